from django.urls import path

from accounts import two_factor, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", views.StaffLogoutView.as_view(), name="logout"),
    path("2fa/", two_factor.verify, name="two_factor_verify"),
    path("2fa/setup/", two_factor.setup, name="two_factor_setup"),
]
