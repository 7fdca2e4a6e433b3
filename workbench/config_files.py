"""Reading config files: safe YAML, `--set key=value` overrides applied to it, and pydantic's
errors reported as one line.

The YAML loader is PyYAML's safe loader plus the refusals it does not make:

- a key given twice in one mapping (PyYAML silently keeps the last `goal:`) is refused, naming
  the key and both lines;
- aliases are followed by reference, so a few lines (`&a [*b, *b, ...]` nested six deep) can
  stand for a million values that later code would walk: the expanded size is counted on the
  node graph before anything is built, and a config past `MAX_NODES` (or one that refers to
  itself) is refused;
- a file that is not UTF-8 text, a folder, a file past `MAX_BYTES`, or YAML nested too deeply
  gives one line, not a traceback.

Only plain data comes out (mappings, lists, text, numbers, booleans, dates): no tag can build a
Python object.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError

from workbench.errors import ConfigError

# A real config is a few hundred values; an `in` list may hold thousands (conditions cap it
# at 10,000), so the budget leaves room for that and refuses alias expansion far past it.
MAX_NODES = 200_000
MAX_BYTES = 5_000_000

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigLoader(_Base):  # type: ignore[misc,valid-type]
    """yaml's safe loader (libyaml when available) refusing repeated keys."""


def _construct_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue  # `<<: *defaults` may be overridden by an explicit key: that is its purpose
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (also at line {seen[key]}): a repeated key would "
                "silently replace the first",
                key_node.start_mark,
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(root: yaml.Node) -> int:
    """Values the node graph stands for once aliases are expanded (each node counted once per
    reference), computed on the graph itself; a node inside itself raises ValueError."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ValueError("a YAML alias refers to the list or mapping that contains it")
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)  # enough to know it is too big; no huge ints
        return sizes[key]

    return size(root)


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML text into plain data, or raise ConfigError naming `where` and the line."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise ConfigError(
                f"{where}: the YAML expands to more than {MAX_NODES:,} values (through "
                "aliases, `*name`): refused; a config is a few hundred"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: the YAML is nested too deeply to be a config") from None
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """A YAML file's data, with one line for a missing file, a folder, a file that is too
    large or not UTF-8 text, and bad YAML."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a YAML config file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes is too large for a config file (at most {MAX_BYTES:,})"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not a UTF-8 text file (line {line}: byte {exc.start:,} is "
            f"{data[exc.start]:#04x}); save the config as UTF-8 YAML"
        ) from None
    return load_yaml_text(text, str(path))


# ----------------------------------------------------------------------------- --set overrides
def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    keys = dotted.split(".")
    node: Any = raw
    for k in keys[:-1]:
        if isinstance(node, list):
            try:
                node = node[int(k)]
            except (ValueError, IndexError) as exc:
                raise ConfigError(f"{where}: --set {dotted}: no list item {k!r}") from exc
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: --set {dotted}: {k!r} is not a section")
        node = node.setdefault(k, {})
    last = keys[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"{where}: --set {dotted}: no list item {last!r}") from exc
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"{where}: --set {dotted}: cannot set inside a plain value")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`["goal.window_days=30", "name=x"]` -> `{"goal.window_days": 30, "name": "x"}` (YAML values)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, _, text = item.partition("=")
        key = key.strip()
        if not key or any(not part.strip() for part in key.split(".")):
            raise ConfigError(
                f"--set {item!r}: {'no key before' if not key else 'an empty part in the key before'}"
                " '='; write e.g. goal.window_days=60"
            )
        try:
            out[key] = load_yaml_text(text, f"--set {key}") if text.strip() else None
        except ConfigError as exc:
            raise ConfigError(f"--set {key}: value is not valid YAML ({exc})") from None
    return out


def apply_overrides(
    raw: dict[str, Any], overrides: dict[str, Any] | list[str] | None, where: str
) -> None:
    """Set each dotted key (`goal.window_days`) of `overrides` (or `--set` items) in `raw`."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value, where)


# ----------------------------------------------------------------------------- errors
def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X`, `X | None`, `list[X]`, `dict[str, X]`..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _keys_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The keys the config accepts in the section holding `loc` (for "did you mean")."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def format_validation_error(exc: ValidationError, where: str, root: type[BaseModel]) -> str:
    """pydantic's errors as one line: the key (an unknown one first, with "did you mean"),
    the problem, and how many more there are."""
    # An unknown key is usually the typo behind the other errors ("event:" also makes "events"
    # missing), so it is the one to report.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    parts = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
    loc = ".".join(str(p) for p in parts)
    msg = err["msg"]
    others = len(errors) - 1
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        close = difflib.get_close_matches(str(parts[-1]), _keys_at(parts, root), n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
            meant = parts[:-1] + (close[0],)
            others -= sum(e["type"] == "missing" and tuple(e["loc"]) == meant for e in errors[1:])
    elif err["type"] == "missing":
        msg = "required key is missing"
    msg = msg.removeprefix("Value error, ")
    more = f" (and {others} more)" if others > 0 else ""
    if not loc:  # a check across sections names its keys in the message
        return f"{where}: {msg}{more}"
    return f"{where}: {loc}: {msg}{more}"
