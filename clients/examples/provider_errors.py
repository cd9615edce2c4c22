"""Plain-language explanations of the errors the provider can send back to a relying party."""

from __future__ import annotations

_EXPLANATIONS = {
    "unmet_authentication_requirements": (
        "Level 2 identity required",
        "This service needs a level-2 electronic identity account (verified in person with your chip ID "
        "card) and a second factor. Your account could not log in at level 2. Upgrade it at a police "
        "registration desk with your chip ID card, or show the physical card instead.",
    ),
    "access_denied": (
        "Login cancelled",
        "The login was cancelled or the sharing of your data was declined, so nothing was received. "
        "You can start again when you are ready.",
    ),
    "login_required": (
        "Login required",
        "You are not logged in at the identity provider. Start the login again.",
    ),
}


def explain_login_error(error: str, description: str | None) -> tuple[str, str]:
    """A ``(title, message)`` for an OAuth/OIDC error code from the authorization response."""
    if error in _EXPLANATIONS:
        return _EXPLANATIONS[error]
    return ("Login failed", f"The identity provider answered: {error}" + (f" ({description})" if description else ""))
