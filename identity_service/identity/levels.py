"""Identity levels (Decree 69/2024/NĐ-CP) and the authentication levels a request asks for.

Two different things carry a level (DESIGN.md §2):
- the **account** holds level 1 (enrolled online) or level 2 (verified in person at a desk);
- an **authentication** reaches level 1 (password) or level 2 (a level-2 account, password and a
  second factor in this session). ``acr`` says which level an authentication reached.

A request's level comes from three sources (OIDC Core §3.1.2.1 ``acr_values``, §5.5.1.1 the
``acr`` member of the ``claims`` parameter, and the client's registered minimum level). The values
of a list are in order of preference: the first one the account can reach is aimed for, and the
lowest listed one is the least the client accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

LEVEL1 = 1
LEVEL2 = 2

# RFC 8176 §2 authentication method references. A recovery code is a NIST SP 800-63B §5.1.2 look-up
# secret, for which RFC 8176 registers no value; the private value is collision-resistant (RFC 8176 §6).
AMR_PASSWORD = "pwd"
AMR_TOTP = "otp"
AMR_SMS = "sms"
AMR_RECOVERY_CODE = "urn:eid:vn:amr:recovery-code"
AMR_MULTI_FACTOR = "mfa"


@dataclass(frozen=True)
class AcrValues:
    """The configured acr URI of each level (``IDENTITY_ACR_LEVEL1`` / ``IDENTITY_ACR_LEVEL2``)."""

    level1: str
    level2: str

    def acr_for(self, level: int) -> str:
        return self.level2 if level >= LEVEL2 else self.level1

    def level_of(self, acr: str | None) -> int | None:
        """The level an acr value names; None for values this provider does not know."""
        if acr == self.level2:
            return LEVEL2
        if acr == self.level1:
            return LEVEL1
        return None

    def levels_of(self, values: Iterable[str]) -> list[int]:
        """Known levels in the order given; unknown values are ignored."""
        return [level for level in (self.level_of(value) for value in values) if level is not None]


class UnreachableLevel(ValueError):
    """An essential acr request lists no level this provider offers (OIDC Core §5.5.1.1)."""


@dataclass(frozen=True)
class LevelRequirement:
    """``minimum``: the least the client accepts; ``preferred``: what it would rather have."""

    minimum: int = LEVEL1
    preferred: int = LEVEL1

    def target_for(self, account_level: int) -> int | None:
        """The level to authenticate this account at, or None when the account cannot meet the minimum."""
        if account_level >= self.preferred:
            return self.preferred
        if account_level >= self.minimum:
            return self.minimum
        return None


def required_level(client_min_level: int, acr_values: list[int], essential_acr: list[int] | None,
                   voluntary_acr: list[int] | None = None) -> LevelRequirement:
    """Combine the client's registration with what the request asks for.

    ``acr_values`` and an essential ``acr`` claim bind (DESIGN.md: a level-1 account never gets a
    level-2 token, nor a level-1 token when level 2 was asked for); a voluntary ``acr`` claim only
    states a preference. Each argument lists known levels in the request's order of preference.
    """
    minimum = max(client_min_level, LEVEL1)
    preferred = minimum
    for listed, binding in ((acr_values, True), (essential_acr or [], True), (voluntary_acr or [], False)):
        if not listed:
            continue
        if binding:
            minimum = max(minimum, min(listed))
        preferred = max(preferred, listed[0])
    return LevelRequirement(minimum=minimum, preferred=max(preferred, minimum))


class LevelStep(StrEnum):
    """What a logged-in citizen still has to do for a request's level."""

    SATISFIED = "satisfied"
    SECOND_FACTOR = "second_factor"
    UNMET = "unmet"  # the account itself is below the minimum: only a registration desk can help


def next_level_step(requirement: LevelRequirement, account_level: int, reached_level: int,
                    interactive: bool = True) -> LevelStep:
    """Decide between issuing, asking for a second factor (step-up) and refusing.

    Without interaction (``prompt=none``) a preferred level above the minimum is not worth an error:
    the minimum, when already reached, is enough.
    """
    target = requirement.target_for(account_level)
    if target is None:
        return LevelStep.UNMET
    if reached_level >= target or (not interactive and reached_level >= requirement.minimum):
        return LevelStep.SATISFIED
    return LevelStep.SECOND_FACTOR
