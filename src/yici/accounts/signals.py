from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from yici.accounts import services
from yici.accounts.models import UserSession


@receiver(user_logged_in)
def track_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        from yici.accounts.twofactor import SESSION_NEEDED_KEY

        request.session.pop(SESSION_NEEDED_KEY, None)
        services.session_track(request=request, user=user)
        from yici.audit.services import audit_event
        from yici.burden.services import burden_record

        audit_event(actor=user, action="login", obj=user, request=request)
        burden_record(metric="login", user=user)


@receiver(user_logged_out)
def untrack_logout(sender, request, user, **kwargs):
    if user is not None:
        # Line systems re-validate their sessions against Yici: revoked tokens sign the user out there.
        from yici.accounts.oidc import logout_tokens_revoke

        logout_tokens_revoke(user=user)
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()


def _connect_system_code_cache():
    """The token audit's cache of client → line system is forgotten when any of the three changes."""
    from django.db.models.signals import post_delete, post_save
    from oauth2_provider.models import get_application_model

    from yici.accounts.models import LineSystemClient
    from yici.accounts.oidc import system_codes_forget
    from yici.exchange.models import LineSystem

    for model in (get_application_model(), LineSystemClient, LineSystem):
        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(system_codes_forget, sender=model, dispatch_uid=f"yici_system_codes_{name}_{model.__name__}")


_connect_system_code_cache()
