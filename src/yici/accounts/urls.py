from django.urls import path

from yici.accounts import views, views_sso

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("portal/", views_sso.portal, name="portal"),
    path("2fa/", views_sso.two_factor, name="two_factor"),
    path("line-systems/<slug:code>/client/", views_sso.line_system_client, name="line_system_client"),
    path("users/", views_sso.user_list, name="user_list"),
    path("users/<str:username>/accounts/", views_sso.user_accounts, name="user_accounts"),
    path("users/<str:username>/active/", views_sso.user_active, name="user_active"),
    path("api/waiting/", views_sso.waiting_report, name="waiting_report"),
]
