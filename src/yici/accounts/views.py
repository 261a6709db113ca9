from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.accounts import selectors, services


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.user_change_password(user=request.user, new_password=form.cleaned_data["new_password1"], actor=request.user)
        update_session_auth_hash(request, request.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("accounts:sessions")
    return render(request, "accounts/password_change.html", {"form": form})


@login_required
def sessions(request):
    return render(
        request,
        "accounts/sessions.html",
        {"sessions": selectors.session_list(user=request.user), "current_key": request.session.session_key},
    )


@require_POST
@login_required
def session_end(request, pk: int):
    if services.session_end(user=request.user, session_id=pk):
        messages.success(request, _("The session has been signed out."))
    else:
        messages.error(request, _("That session no longer exists."))
    return redirect("accounts:sessions")
