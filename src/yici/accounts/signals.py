from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from yici.accounts import services
from yici.accounts.models import UserSession


@receiver(user_logged_in)
def track_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        services.session_track(request=request, user=user)
        from yici.audit.services import audit_event
        from yici.burden.services import burden_record

        audit_event(actor=user, action="login", obj=user, request=request)
        burden_record(metric="login", user=user)


@receiver(user_logged_out)
def untrack_logout(sender, request, user, **kwargs):
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()
