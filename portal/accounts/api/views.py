"""Your API tokens over the API: create (with an expiry and a project scope), list, revoke.

The same actions as the profile page. A token reaches only its owner's tokens (another person's
is a 404), and a token scoped to one project manages no tokens at all (403): otherwise it could
create an unscoped one and reach beyond its project.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from ..actions import create_token, personal_tokens, revoke_token
from ..models import ApiToken, scopable_projects, scoped_project_id
from .serializers import NewTokenSerializer, TokenCreateSerializer, TokenSerializer

TOKEN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description=_("Number of the token."))


@extend_schema_view(
    retrieve=extend_schema(parameters=[TOKEN_ID]),
    destroy=extend_schema(parameters=[TOKEN_ID]),
)
class TokenViewSet(viewsets.GenericViewSet):
    serializer_class = TokenSerializer
    lookup_value_regex = "[0-9]+"

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if scoped_project_id(request.user) is not None:
            raise PermissionDenied(_("A token scoped to one project cannot manage tokens."))

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return personal_tokens(self.request.user).select_related("project").order_by("-created_at", "-pk")

    @extend_schema(
        summary="List your API tokens",
        description="Paged, 50 per page, newest first. Revoked tokens are left out; expired ones "
        "are listed with `expired` true. The tokens the portal makes for jobs are not listed.",
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TokenSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an API token",
        description="Answers the token with its `key`, shown this once. With `project` the token "
        "reaches that project alone (API and MLflow proxy); with `expires_at` it stops working then.",
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = TokenCreateSerializer(data=request.data, projects=scopable_projects(request.user))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, key = create_token(
            request.user, data["name"], scope=data.get("project"), expires_at=data.get("expires_at")
        )
        token.key = key
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Show one of your API tokens",
        description="Its name, scope, expiry and last use; never its key.",
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(TokenSerializer(get_object_or_404(self.get_queryset(), pk=pk)).data)

    @extend_schema(
        summary="Revoke one of your API tokens",
        description="The token stops working at once, everywhere.",
        responses={204: OpenApiResponse(description="Revoked.")},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        revoke_token(get_object_or_404(self.get_queryset(), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
