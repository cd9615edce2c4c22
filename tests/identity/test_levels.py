"""Which level a request needs (acr_values, the acr claim request, the client's minimum) and what follows."""

from __future__ import annotations

import pytest

from identity_service.identity.levels import (
    AcrValues,
    LevelRequirement,
    LevelStep,
    next_level_step,
    required_level,
)
from identity_service.oidc.authorization import ClaimsRequest, UnmetRequirement, level_requirement

ACR = AcrValues("urn:eid:vn:level1", "urn:eid:vn:level2")


def test_unknown_acr_values_are_ignored_and_known_ones_keep_their_order() -> None:
    assert ACR.levels_of(["urn:x", "urn:eid:vn:level2", "urn:eid:vn:level1"]) == [2, 1]


@pytest.mark.parametrize(("client_min", "acr_values", "essential", "expected"), [
    (1, [], None, LevelRequirement(1, 1)),
    (2, [], None, LevelRequirement(2, 2)),               # the client's registered minimum binds
    (1, [2], None, LevelRequirement(2, 2)),
    (1, [2, 1], None, LevelRequirement(1, 2)),           # level 2 preferred, level 1 accepted
    (1, [1, 2], None, LevelRequirement(1, 1)),           # level 1 preferred: no second factor asked
    (2, [1], None, LevelRequirement(2, 2)),              # a request cannot go below the client's minimum
    (1, [], [2], LevelRequirement(2, 2)),                # essential acr claim binds
    (1, [1], [2], LevelRequirement(2, 2)),               # the strictest source wins
])
def test_required_level_is_the_strictest_of_client_acr_values_and_essential_acr(
    client_min: int, acr_values: list[int], essential: list[int] | None, expected: LevelRequirement
) -> None:
    assert required_level(client_min, acr_values, essential) == expected


def test_a_voluntary_acr_claim_is_only_a_preference() -> None:
    assert required_level(1, [], None, voluntary_acr=[2]) == LevelRequirement(1, 2)


def test_an_essential_acr_claim_with_only_unknown_values_cannot_be_met() -> None:
    with pytest.raises(UnmetRequirement):
        level_requirement(ACR, 1, None, ClaimsRequest(set(), ["urn:other:loa4"], True))
    assert level_requirement(ACR, 1, None, ClaimsRequest(set(), ["urn:other:loa4"], False)) == LevelRequirement()


@pytest.mark.parametrize(("requirement", "account", "reached", "interactive", "step"), [
    (LevelRequirement(2, 2), 1, 1, True, LevelStep.UNMET),
    (LevelRequirement(2, 2), 2, 1, True, LevelStep.SECOND_FACTOR),
    (LevelRequirement(2, 2), 2, 2, True, LevelStep.SATISFIED),
    (LevelRequirement(1, 2), 1, 1, True, LevelStep.SATISFIED),       # best the account can do
    (LevelRequirement(1, 2), 2, 1, True, LevelStep.SECOND_FACTOR),   # the preference is worth asking for
    (LevelRequirement(1, 2), 2, 1, False, LevelStep.SATISFIED),      # … but not an error under prompt=none
    (LevelRequirement(2, 2), 2, 1, False, LevelStep.SECOND_FACTOR),
])
def test_next_level_step(requirement: LevelRequirement, account: int, reached: int, interactive: bool,
                         step: LevelStep) -> None:
    assert next_level_step(requirement, account, reached, interactive) is step
