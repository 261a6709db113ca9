"""``/o/``: django-oauth-toolkit's endpoints, with Yici's discovery, JWKS and sign-in views.

The namespace stays ``oauth2_provider`` so the toolkit's own views find their siblings. Neither the
toolkit's application-management pages (line systems register on Yici's own page) nor its dynamic
client registration, device flow or password grant are exposed.
"""

from django.urls import path, re_path
from oauth2_provider import views

from yici.accounts import oidc

app_name = "oauth2_provider"
urlpatterns = [
    path("authorize/", oidc.AuthorizationView.as_view(), name="authorize"),
    path("token/", oidc.TokenView.as_view(), name="token"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", views.IntrospectTokenView.as_view(), name="introspect"),
    re_path(r"^\.well-known/openid-configuration/?$", oidc.DiscoveryView.as_view(),
            name="oidc-connect-discovery-info"),
    # RFC 8414 metadata under the issuer, so the RFC 9207 ``iss`` equals the OIDC issuer (…/o).
    path(".well-known/oauth-authorization-server", views.OAuthServerMetadataView.as_view(),
         name="oauth-server-metadata"),
    path(".well-known/jwks.json", oidc.JwksView.as_view(), name="jwks-info"),
    path("userinfo/", views.UserInfoView.as_view(), name="user-info"),
    path("logout/", oidc.LogoutView.as_view(), name="rp-initiated-logout"),
]
