"""axe-core (the npm package `make install` pins under .venv/share/portal) run in a Playwright page: the serious and
critical violations it finds. The page's context must bypass the Content-Security-Policy (axe is injected inline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE = sorted((ROOT / ".venv" / "share" / "portal").glob("axe-core-*/node_modules/axe-core/axe.min.js"))


def axe_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE[-1]))
    result = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .filter(v => v.impact === "serious" || v.impact === "critical")
             .map(v => v.id + " (" + v.impact + "): " + v.help + " at " +
                       v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "))"""
    )
    return list(result)
