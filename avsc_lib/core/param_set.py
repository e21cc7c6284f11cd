"""The validated parameter set as one read-only object: keys as attributes, grouped in sections.

:func:`avsc_lib.core.params.load_params` returns a :class:`Params`. It is a mapping
(``params["fps"]``, ``dict(params)``, ``{**params, "fps": 10}`` for a plain copy), its keys are
attributes (``params.fps``), and the sections of ``params/paper.yml`` (``# --- audio features``
...) are :class:`Section` views (``params.audio_features.hop_s``) that a function can take when
it needs no more. Nothing assigns to it: :meth:`Params.replace` gives a validated copy.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping


class Section(Mapping[str, Any]):
    """Parameters as a read-only mapping whose keys are also attributes (one section of the file).

    Args:
        name: what the keys are, for messages (a section's name).
        values: key -> value.
    """

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: Mapping[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a parameter of {self._name}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(err.args[0]) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"parameters are read-only ({self._name}); params.replace({name}=...) gives a changed, "
                        "validated copy")

    def __reduce__(self) -> tuple:
        return Section, (self._name, self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, {self._values!r})"


class Params(Section):
    """A complete, validated parameter set (see :func:`avsc_lib.core.params.load_params`).

    Args:
        values: every key of ``paper.yml`` with its validated value.
        sections: section name -> its keys, in the parameter file's order.
        validate: checks a changed copy (:meth:`replace`); returns its complete values.
    """

    __slots__ = ("_sections", "_validate")

    def __init__(self, values: Mapping[str, Any], sections: Mapping[str, tuple[str, ...]],
                 validate: Callable[[Mapping[str, Any]], Mapping[str, Any]]):
        super().__init__("the parameter set", values)
        object.__setattr__(self, "_sections", dict(sections))
        object.__setattr__(self, "_validate", validate)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name not in self._values and name in self._sections:
            return self.section(name)
        try:
            return super().__getattr__(name)
        except AttributeError:
            raise AttributeError(f"no parameter or section {name!r}; sections: {', '.join(self._sections)}") from None

    def __reduce__(self) -> tuple:
        return Params, (self._values, self._sections, self._validate)

    @property
    def sections(self) -> tuple[str, ...]:
        """The sections' names, in the parameter file's order."""
        return tuple(self._sections)

    def section(self, name: str) -> Section:
        """The keys of one section (e.g. ``audio_features``) as a read-only view."""
        if name not in self._sections:
            raise KeyError(f"no section {name!r}; sections: {', '.join(self._sections)}")
        return Section(f"the section {name!r}", {key: self._values[key] for key in self._sections[name]})

    def replace(self, **changes: Any) -> Params:
        """A validated copy with ``changes`` applied (ParamsError naming a bad key or value)."""
        return Params(self._validate({**self._values, **changes}), self._sections, self._validate)
