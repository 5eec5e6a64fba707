"""A person in a real Chromium: signs in, registers a project, switches the page to Spanish."""

import re

import pytest
from playwright.sync_api import Page, expect

from portal.projects.models import Project


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_in_register_a_project_and_read_it_in_spanish(personas, live_server, page: Page):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("charlie")
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My projects")).to_be_visible()
    expect(page.get_by_text("You are not in any project yet.")).to_be_visible()

    page.get_by_role("button", name="Register a project").click()
    page.get_by_label("Name", exact=True).fill("Coral reefs")
    page.get_by_label("Slug").fill("coral-reefs")
    page.get_by_label("Principal investigator").fill("Dr. Marina Sol")
    page.get_by_label("Field of research").fill("Marine biology")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/projects/coral-reefs/")
    expect(page.get_by_role("heading", name="Coral reefs")).to_be_visible()
    expect(page.get_by_text("Project registered. A site admin will review it.")).to_be_visible()
    expect(page.locator("#project-status")).to_have_text("pending approval")
    assert Project.objects.get(slug="coral-reefs").requested_by == personas.charlie

    page.get_by_label("Language").select_option("es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_url(f"{live_server.url}/projects/coral-reefs/")
    expect(page.locator("#project-status")).to_have_text("pendiente de aprobación")
    expect(page.locator("#decision")).to_contain_text(
        "Este proyecto espera la aprobación de un administrador"
    )
    expect(page.get_by_role("heading", name="Miembros")).to_be_visible()
    expect(page.get_by_role("cell", name="propietario")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()

    page.get_by_role("link", name="Mis proyectos").first.click()
    expect(page.get_by_role("heading", name="Mis proyectos")).to_be_visible()
    expect(page.get_by_role("link", name="Coral reefs")).to_be_visible()
