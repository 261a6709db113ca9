from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def element_list(request):  # placeholder until the catalog page lands
    return HttpResponse("catalog")
