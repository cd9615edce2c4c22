"""Build the SDK's API reference (``docs/api.md``) from its docstrings and signatures.

Run ``python clients/python/scripts/build_api_reference.py`` after changing a public name or its
docstring; ``--check`` exits 1 when the committed file is stale (the SDK's tests do the same).
Standard library only (``inspect``): nothing is downloaded or installed to build the reference.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "api.md"

# The public surface, module by module: ``identity_client.__all__`` plus the integrations and the
# login helper, which are imported from their own modules so the core needs no web framework.
PUBLIC_MODULES: dict[str, tuple[str, ...] | None] = {
    "identity_client": None,  # None: the module's __all__
    "identity_client.login": ("LoginHelper", "LoginState", "Tokens", "LoginError"),
    "identity_client.fastapi": ("require_identity",),
    "identity_client.middleware": ("flask_require_identity", "IdentityASGIMiddleware", "IdentityWSGIMiddleware"),
}


def public_names(module: ModuleType, names: tuple[str, ...] | None) -> list[str]:
    return list(names if names is not None else module.__all__)


def _doc(obj: object) -> str:
    doc = inspect.getdoc(obj)
    if not doc:
        raise ValueError(f"{getattr(obj, '__qualname__', obj)!r} has no docstring: document it before publishing")
    return doc


class _Annotation(str):
    """An annotation kept as source text (``from __future__ import annotations``), shown unquoted."""

    def __repr__(self) -> str:
        return str(self)


def _signature(obj: object, method: bool = False) -> str:
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    parameters = list(signature.parameters.values())[1 if method else 0:]
    parameters = [p.replace(annotation=_Annotation(p.annotation)) if isinstance(p.annotation, str) else p
                  for p in parameters]
    returns = signature.return_annotation
    return str(signature.replace(parameters=parameters,
                                 return_annotation=_Annotation(returns) if isinstance(returns, str) else returns))


def _members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by ``cls`` or a private base (``_Core``), in source order."""
    owners = [c for c in cls.__mro__ if c is cls or (c.__name__.startswith("_") and c is not object)]
    seen: dict[str, object] = {}
    for owner in owners:
        for name, value in vars(owner).items():
            if name.startswith("_") or name in seen:
                continue
            if inspect.isfunction(value) or isinstance(value, property):
                seen[name] = value
    return list(seen.items())


def _render_class(qualified: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object and not b.__name__.startswith("_")]
    kind = "exception" if issubclass(cls, BaseException) else "dataclass" if dataclasses.is_dataclass(cls) else "class"
    inherits_init = "__init__" not in {n for c in cls.__mro__[:-2] for n in vars(c)}
    shown = "" if kind == "exception" and inherits_init else _signature(cls)
    lines = [f"### `{cls.__name__}`", "", f"*{kind}* `{qualified}{shown}`"
             + (f" — subclass of {', '.join(f'`{b}`' for b in bases)}" if bases else ""), "", _doc(cls), ""]
    if dataclasses.is_dataclass(cls):
        lines += ["| field | type |", "|---|---|"]
        lines += [f"| `{f.name}` | `{str(f.type).replace('|', chr(92) + '|')}` |" for f in dataclasses.fields(cls)]
        lines.append("")
    for name, member in _members(cls):
        if isinstance(member, property):
            lines += [f"#### `{cls.__name__}.{name}` *(property)*", "", _doc(member.fget), ""]
        else:
            prefix = "async " if inspect.iscoroutinefunction(member) else ""
            lines += [f"#### `{prefix}{cls.__name__}.{name}{_signature(member, method=True)}`", "", _doc(member), ""]
    return lines


def _render_function(qualified: str, function: object) -> list[str]:
    name = qualified.rsplit(".", 1)[1]
    return [f"### `{name}`", "", f"*function* `{qualified}{_signature(function)}`", "", _doc(function), ""]


def render() -> str:
    """The whole reference as Markdown (deterministic: the same code gives the same bytes)."""
    lines = ["# identity_client — API reference", "",
             "Generated from the SDK's docstrings by `clients/python/scripts/build_api_reference.py`;",
             "do not edit by hand. Usage and examples: [the README](../README.md).", ""]
    for module_name, names in PUBLIC_MODULES.items():
        module = importlib.import_module(module_name)
        lines += [f"## `{module_name}`", "", _doc(module).split("\n\n")[0], ""]
        for name in public_names(module, names):
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            lines += _render_class(qualified, obj) if inspect.isclass(obj) else _render_function(qualified, obj)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
