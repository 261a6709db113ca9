from django.urls import path

from yici.inbox import views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:pk>/", views.item_detail, name="item_detail"),
    path("<int:pk>/complete/", views.item_complete, name="item_complete"),
    path("<int:pk>/hand-over/", views.item_hand_over, name="item_hand_over"),
    path("<int:pk>/more-time/", views.item_more_time, name="item_more_time"),
    path("<int:pk>/extend/", views.item_extend, name="item_extend"),
    path("notifications/", views.notifications, name="notifications"),
    path("workload/", views.workload, name="workload"),
    path("workload/<str:code>/", views.workload_village, name="workload_village"),
    path("extensions/<int:pk>/decide/", views.extension_decide, name="extension_decide"),
    path("admission/", views.admission, name="admission"),
    path("admission/<int:pk>/decide/", views.admission_decide, name="admission_decide"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:pk>/", views.task_detail, name="task_detail"),
]
