from django.urls import path

from yici.registry import views, views_edit

app_name = "registry"
urlpatterns = [
    path("persons/", views.person_list, name="person_list"),
    path("persons/<int:pk>/", views.person_detail, name="person_detail"),
    path("persons/<int:pk>/edit/", views_edit.person_edit, name="person_edit"),
    path("persons/<int:pk>/reveal/<str:field>/", views.person_reveal, name="person_reveal"),
    path("houses/", views.house_list, name="house_list"),
    path("houses/<int:pk>/", views.house_detail, name="house_detail"),
    path("houses/<int:pk>/edit/", views_edit.house_edit, name="house_edit"),
    path("houses/<int:pk>/reveal/<str:field>/", views.house_reveal, name="house_reveal"),
    path("review/", views.review_list, name="review_list"),
    path("review/<int:pk>/", views.review_detail, name="review_detail"),
    path("review/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("review/<int:pk>/undo/", views.review_undo, name="review_undo"),
]
