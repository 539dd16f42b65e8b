"""Forms for projects, members, sites, visits and the upload.

Labels come from the models' translated verbose names, so the forms speak the user's language.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from surveys.models import Membership, Project, Role, Site, Visit

User = get_user_model()

# Browsers only fill <input type="date|time"> from ISO values, whatever the page's language.
_DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
_TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


def _users_by_username(text: str) -> list[Any]:
    """Active users for a comma- or space-separated list of usernames; unknown names raise ValidationError."""
    names = [name for name in text.replace(",", " ").split() if name]
    users = {user.username: user for user in User.objects.filter(username__in=names, is_active=True)}
    unknown = [name for name in names if name not in users]
    if unknown:
        raise forms.ValidationError(
            _("No active user called %(names)s."), params={"names": ", ".join(unknown)}, code="unknown_user"
        )
    return [users[name] for name in dict.fromkeys(names)]


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class ProjectCreateForm(ProjectForm):
    """Staff create a project and name its managers in one step."""

    managers = forms.CharField(
        label=capfirst(_("managers")),
        required=False,
        help_text=_("Usernames, separated by commas. They become managers of the new project."),
    )

    def clean_managers(self) -> list[Any]:
        return _users_by_username(self.cleaned_data["managers"])


class ProjectDeleteForm(forms.Form):
    """The manager types the project's name, so a project is never deleted by a stray click."""

    name = forms.CharField(label=capfirst(_("project name")), max_length=200)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["name"].widget.attrs.update(autocomplete="off", spellcheck="false")

    def clean_name(self) -> str:
        # Exact (only surrounding spaces forgiven): near misses are how the wrong project gets deleted.
        name = self.cleaned_data["name"].strip()
        if name != self.project.name.strip():
            raise forms.ValidationError(
                _("That is not this project's name. Type %(name)s exactly to delete it."),
                params={"name": self.project.name},
                code="wrong_name",
            )
        return name


class MembershipAddForm(forms.Form):
    username = forms.CharField(label=capfirst(_("username")), max_length=150)
    role = forms.ChoiceField(label=capfirst(_("role")), choices=Role.choices, initial=Role.FIELDWORKER)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("No active user called %(names)s."), params={"names": username})
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(
                _("%(username)s is already a member of this project."), params={"username": user.username}
            )
        return user


class MembershipRoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]


class SiteForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=capfirst(_("time zone")), choices=_time_zone_choices)

    class Meta:
        model = Site
        fields = ["code", "name", "latitude", "longitude", "time_zone", "habitat", "notes"]
        widgets = {
            "latitude": forms.NumberInput(attrs={"step": "any"}),
            "longitude": forms.NumberInput(attrs={"step": "any"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["time_zone"].initial = self.instance.time_zone

    def clean_code(self) -> str:
        # The (project, code) constraint is not checked by ModelForm because `project` is not a form field.
        code = self.cleaned_data["code"].strip()
        clash = Site.objects.filter(project=self.project, code__iexact=code).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(
                _("This project already has a site with code %(code)s."), params={"code": code}
            )
        return code


class VisitForm(forms.ModelForm):
    class Meta:
        model = Visit
        fields = [
            "night",
            "start_time",
            "end_time",
            "purpose",
            "detector_make",
            "detector_model",
            "detector_serial",
            "microphone",
            "time_expansion",
            "recording_settings",
            "temperature_c",
            "wind_beaufort",
            "rain",
            "observers",
            "notes",
        ]
        widgets = {
            "night": _DATE_INPUT,
            "start_time": _TIME_INPUT,
            "end_time": _TIME_INPUT,
            "time_expansion": forms.NumberInput(attrs={"step": "any", "min": 1}),
            "temperature_c": forms.NumberInput(attrs={"step": "0.1"}),
            "recording_settings": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadForm(forms.Form):
    """Only renders the picker; the files go to `surveys.services.recordings_upload` as they came."""

    files = forms.FileField(
        label=_("WAV files or ZIP archives"),
        required=False,  # the view answers an empty upload with 400 and a message, also for dropped files
        widget=MultipleFileInput(attrs={"multiple": True, "accept": ".wav,.WAV,.zip,.ZIP,.xml,.XML"}),
        help_text=_("Batlogger XML files beside their WAV files are read too."),
    )
