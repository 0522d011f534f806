from __future__ import annotations

from django.contrib.auth import views as auth_views

from accounts.forms import EmailAuthenticationForm


class StaffLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class StaffLogoutView(auth_views.LogoutView):
    # Django's LogoutView only accepts POST: a link or a prefetch cannot sign anyone out.
    pass
