from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static

from yici.web import selectors


def favicon(request):
    # Resolved per request: with the manifest storage the hashed name exists only after collectstatic.
    return redirect(static("web/favicon.svg"))


@login_required
def home(request):
    return render(request, "web/home.html", selectors.home_for(user=request.user))


def error_403(request, exception=None):
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    # No context processors that touch the database: the error may be the database.
    from django.http import HttpResponseServerError
    from django.template import loader

    return HttpResponseServerError(loader.get_template("errors/500.html").render({}))
