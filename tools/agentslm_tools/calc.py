"""Arithmetic (a bounded expression evaluator, no ``eval``) and unit conversion (pint)."""

from __future__ import annotations

import ast
import operator
from functools import cache
from typing import Annotated, Any

import pint
from pydantic import Field

from agentslm.registry import ToolRegistry

from .context import PackContext

__all__ = ["evaluate", "register"]

_BINARY: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def evaluate(expression: str) -> float | int:
    """The value of an arithmetic expression (+ - * / // % ** and parentheses, ``x``/``^`` accepted)."""
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/").replace(",", "")  # noqa: RUF001
    text = text.replace("x", "*") if any(c.isdigit() for c in text) else text
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{expression!r} is not an arithmetic expression") from exc

    def walk(node: ast.AST) -> float | int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 100 or abs(left) > 1e6):
                raise ValueError("exponent too large (at most 100, base at most 1e6)")
            return _BINARY[type(node.op)](left, right)  # type: ignore[no-any-return]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))  # type: ignore[no-any-return]
        raise ValueError(f"{expression!r} may use only numbers, + - * / % ** and parentheses")

    try:
        value = walk(tree)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    return round(value, 10) if isinstance(value, float) else value


@cache
def _units() -> pint.UnitRegistry:
    return pint.UnitRegistry()


def register(registry: ToolRegistry, ctx: PackContext) -> None:
    """Add the calculator and unit conversion tools to ``registry``."""

    @registry.tool
    def calculate(expression: Annotated[str, Field(min_length=1, max_length=200)]) -> float | int:
        """Compute an arithmetic expression.

        Args:
            expression: The expression, e.g. "12.5 * 4 + 3".
        """
        return evaluate(expression)

    @registry.tool
    def convert_units(
        value: float,
        from_unit: Annotated[str, Field(min_length=1, max_length=40)],
        to_unit: Annotated[str, Field(min_length=1, max_length=40)],
    ) -> str:
        """Convert a quantity between units (length, weight, volume, temperature, speed, ...).

        Args:
            value: The number to convert.
            from_unit: Its unit, e.g. "miles".
            to_unit: The unit wanted, e.g. "km".
        """
        ureg = _units()
        try:
            quantity = ureg.Quantity(value, from_unit.strip())
            converted = quantity.to(to_unit.strip())
        except pint.errors.UndefinedUnitError as exc:
            raise ValueError(f"unknown unit: {exc.unit_names}") from exc
        except pint.errors.DimensionalityError as exc:
            raise ValueError(f"cannot convert {from_unit} to {to_unit}: they measure different things") from exc
        return f"{value:g} {from_unit} = {converted.magnitude:.6g} {to_unit}"
