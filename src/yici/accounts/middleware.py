from django.contrib.auth import logout
from django.utils import timezone

from yici.accounts import services

# Touching the row on every request would double the writes of a busy page; once a minute tells
# the user when a session was last used just as well.
_TOUCH_INTERVAL_SECONDS = 60


class SessionTrackingMiddleware:
    """Keeps ``UserSession`` rows current and ends sessions their owner signed out elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.session.session_key:
            now = timezone.now().timestamp()
            last = request.session.get(services.SESSION_SEEN_KEY)
            if last is None or now - last > _TOUCH_INTERVAL_SECONDS:
                if not services.session_touch(request=request, user=user):
                    # Its row was deleted from the sessions page: this browser is signed out.
                    logout(request)
        return self.get_response(request)
