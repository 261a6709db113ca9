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


# Paths a signed-in user may reach before passing the second factor.
_TWO_FACTOR_OPEN = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/i18n/", "/jsi18n/", "/favicon.ico")


class TwoFactorMiddleware:
    """Sends a user who owes the second factor to the verify (or set-up) page first.

    Whether a user owes it is worked out once per session (at the first request after sign-in) and
    kept in the session, so ordinary requests cost no query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        from yici.accounts import twofactor

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not hasattr(user, "is_verified") or user.is_verified():
            return self.get_response(request)
        needed = request.session.get(twofactor.SESSION_NEEDED_KEY)
        if needed is None:
            needed = request.session[twofactor.SESSION_NEEDED_KEY] = twofactor.needed(user)
        if not needed or request.path.startswith(_TWO_FACTOR_OPEN):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "second factor required"}, status=403)
        return redirect(reverse("accounts:two_factor") + "?" + urlencode({"next": request.get_full_path()}))
