"""Drive the web interface in a headless browser: chess served with ``ENABLE_WEB_INTERFACE=true``,
two moves played through the page's form, a screenshot saved (the one in ``docs/web.png``).

Run it with ``python examples/web_screenshot.py [--out docs/web.png]``; it needs Debian's
``chromium`` (``apt-get install chromium``) and ``pip install playwright`` (no browser download:
Playwright drives the system's Chromium).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from openenv_gym.providers import ProcessProvider

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "web.png")
    args = parser.parse_args()
    os.environ["ENABLE_WEB_INTERFACE"] = "true"  # the server process inherits it
    with ProcessProvider("openenv_gym.envs.chess.app:app", env_kwargs={"opponent": "random"}) as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server.start() + "/web/")
        for entries, move in enumerate(["e4", "Nf3"], start=2):
            page.fill("#field-move", move)
            page.click("#step")
            expect(page.locator("#history > li")).to_have_count(entries)
        page.fill("#field-move", "Ke3")  # not legal: the server's penalty shows in the history
        page.click("#step")
        expect(page.locator("#history > li")).to_have_count(4)
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
