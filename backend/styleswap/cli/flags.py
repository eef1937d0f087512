"""The `stylize` flags, one per entry of the options schema (styleswap_protocol.options)."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from styleswap_protocol.options import MB, OPTIONS, Option


def add_option_flags(parser: argparse.ArgumentParser, which: Callable[[Option], bool] = lambda option: True) -> None:
    """One flag per option of the schema (or per option ``which`` picks, for a command that takes only some)."""
    for option in filter(which, OPTIONS):
        help = _sentence_case(option.help) + _default_text(option)
        if option.kind is bool:
            parser.add_argument(option.flag, dest=option.name, action="store_true", help=help)
        elif option.choices:
            parser.add_argument(option.flag, dest=option.name, choices=option.values, default=option.default, help=help)
        else:
            convert = _megabytes if option.unit == "MB" else option.kind
            parser.add_argument(option.flag, dest=option.name, type=convert, default=option.default, metavar=option.unit or None, help=help)


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    return {option.name: getattr(args, option.name) for option in OPTIONS}


def _sentence_case(text: str) -> str:
    """argparse's own help is lower case; an initialism ("VGG-19 ...") keeps its capitals."""
    return text if text[1:2].isupper() else text[0].lower() + text[1:]


def _default_text(option: Option) -> str:
    if option.kind is bool or option.default is None:
        return ""
    return f" (default: {option.default})"


def _megabytes(text: str) -> int:
    try:
        return int(float(text) * MB)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of megabytes: {text!r}") from None
