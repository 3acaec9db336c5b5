"""Names a file we read may use, and the code they stand for: registered code only.

A log, a saved scheduler state or a SPEC names code (a policy class, a
ranking function) by a string. Resolving such a string must never import what
the file says: a :class:`Registry` maps names to objects that were handed to it
explicitly, by hpprune itself or by the user (:meth:`Registry.register`, usable
as a decorator), or that an installed package declares in the registry's
entry-point group. Anything else is a ``ValueError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects that files may name, by a stable name each.

    Args:
        what: What the objects are, for messages (``"rank function"``).
        name_of: The stable name of an object (the string files carry).
            Raises TypeError for an object that cannot be named.
        accepts: Whether an object may be registered at all.
        group: Entry-point group whose objects are registered on the first
            lookup of a name that is not registered yet.
        how: How a user registers an object, for messages
            (``"hpprune.integrations.ray_tune.register_rank_function(fn)"``).
        own: Optional lookup of hpprune's own objects by name (it must import
            nothing outside hpprune); None when hpprune registers its own.
    """

    def __init__(
        self,
        what: str,
        *,
        name_of: Callable[[T], str],
        accepts: Callable[[object], bool],
        group: str,
        how: str,
        own: Callable[[str], T | None] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self._name_of = name_of
        self._accepts = accepts
        self._how = how
        self._own = own
        self._objects: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, obj: T) -> T:
        """Allow files to name ``obj`` (usable as a decorator); a later one wins a name.

        Args:
            obj: The object.

        Returns:
            ``obj``.

        Raises:
            TypeError: If ``obj`` is not acceptable or cannot be named.
        """
        if not self._accepts(obj):
            raise TypeError(f"expected a {self.what}, got {obj!r}")
        self._objects[self._name_of(obj)] = obj
        return obj

    def name(self, obj: T, field: str) -> str:
        """The name under which ``obj`` is registered (what a file will carry).

        Args:
            obj: A registered object.
            field: The argument ``obj`` came from, for messages.

        Returns:
            Its name.

        Raises:
            TypeError: If ``obj`` cannot be named.
            ValueError: If it is not registered under that name (a file
                naming it could not be read back).
        """
        name = self._name_of(obj)
        if self._lookup(name) is not obj:
            raise ValueError(
                f"`{field}` {name} is not a registered {self.what}: register it with "
                f"{self._how} (or the {self.group!r} entry-point group) so that a saved "
                "state naming it can be read back"
            )
        return name

    def resolve(self, name: object, field: str) -> T:
        """The object a file names.

        Args:
            name: The string read from the file.
            field: The file's field, for messages.

        Returns:
            The registered (or hpprune's own) object.

        Raises:
            ValueError: If ``name`` is not a str or names nothing registered;
                nothing is imported.
        """
        if not isinstance(name, str):
            raise ValueError(f"`{field}` must name a {self.what} (a str), got {name!r}")
        obj = self._lookup(name)
        if obj is None:
            raise ValueError(
                f"unknown {self.what} {name!r} in `{field}`: a file names only hpprune's own "
                f"and ones registered with {self._how} or the {self.group!r} entry-point "
                "group; nothing else is imported"
            )
        return obj

    def _lookup(self, name: str) -> T | None:
        obj = self._objects.get(name)
        if obj is None and self._own is not None:
            obj = self._own(name)
        if obj is None and not self._entry_points_loaded:
            self._load_entry_points()
            obj = self._objects.get(name)
        return obj

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            obj = ep.load()  # code an installed package declares, not a file's choice
            if self._accepts(obj):
                self._objects.setdefault(self._name_of(obj), obj)
