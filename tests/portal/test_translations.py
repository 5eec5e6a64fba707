"""The Spanish catalogue is complete, compiled, and what a Spanish-speaking person sees."""

import ast
import gettext
from pathlib import Path

import pytest
from django.urls import reverse

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES"


def po_entries() -> list[dict]:
    """msgid, msgstr(s) and flags of each entry of django.po (a small reader; no gettext tools needed)."""
    entries = []
    for block in (LOCALE / "django.po").read_text().split("\n\n"):
        entry: dict = {"flags": "", "msgstr": []}
        field = None
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
            elif line.startswith("#"):
                continue
            elif line.startswith(("msgid ", "msgid_plural ", "msgstr")):
                field, _, value = line.partition(" ")
                if field.startswith("msgstr"):
                    entry["msgstr"].append(ast.literal_eval(value))
                    field = "msgstr"
                else:
                    entry[field] = ast.literal_eval(value)
            elif line.startswith('"'):
                if field == "msgstr":
                    entry["msgstr"][-1] += ast.literal_eval(line)
                else:
                    entry[field] += ast.literal_eval(line)
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def test_every_string_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert len(entries) > 100
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert entry["msgstr"] and all(entry["msgstr"]), entry["msgid"]


def test_the_compiled_catalogue_matches_the_sources():
    with open(LOCALE / "django.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    for entry in po_entries():
        if "msgid_plural" in entry:
            assert catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 1) == entry["msgstr"][0]
        else:
            assert catalogue.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


@pytest.mark.django_db
def test_pages_speak_spanish(personas):
    client = personas.client("alice")
    response = client.post(reverse("set_language"), {"language": "es", "next": reverse("dashboard")})
    assert response.status_code == 302
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "Mis proyectos" in dashboard and "Registrar un proyecto" in dashboard and 'lang="es"' in dashboard
    detail = client.get(reverse("projects:detail", args=["genomics"])).content.decode()
    assert "Miembros" in detail and "Investigador principal" in detail and "propietario" in detail
    url = reverse("projects:register")
    taken = client.post(url, {"name": "G", "slug": "genomics", "principal_investigator": "X"})
    assert "Ya existe un proyecto con este identificador." in taken.content.decode()
    empty = client.post(url, {"name": "", "slug": "new-one", "principal_investigator": "X"})
    assert "Este campo es requerido." in empty.content.decode()
    assert (
        "Iniciar sesión"
        in personas.client(None).get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    )
