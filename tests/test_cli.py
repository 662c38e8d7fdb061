"""The command-line contract (shared/CONTRACT.md §2 and §3), run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FIELDS = {"query", "kind", "topic", "id", "score", "urgency", "text", "buttons"}


def _run(args: list[str], stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TELEGRAM_BOT_TOKEN": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=120)


def test_ask_prints_the_plain_reply() -> None:
    out = _run(["ask", "how long should i ice my back"])
    assert out.returncode == 0 and "15" in out.stdout and "<b>" not in out.stdout


def test_ask_json_has_every_contract_field() -> None:
    data = json.loads(_run(["ask", "--json", "I suddenly can't hold my urine"]).stdout)
    assert set(data) >= FIELDS
    assert (data["kind"], data["urgency"], data["topic"]) == ("urgent", "emergency", None)
    assert isinstance(data["buttons"], list) and 0 <= data["score"] <= 100


def test_ask_json_batch_keeps_order_skips_blanks_and_handles_thousands() -> None:
    questions = ["how do i knit a scarf", "", "when can i start using heat", "numbness around my bottom"] * 750
    out = _run(["ask", "--json"], stdin="\n".join(questions) + "\n")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    asked = [q for q in questions if q]
    assert [line["query"] for line in lines] == asked
    assert [line["kind"] for line in lines[:3]] == ["fallback", "answer", "urgent"]


def test_chat_json_runs_triage_and_continues_across_runs(tmp_path: Path) -> None:
    env = {"BOT_DATA_DIR": str(tmp_path)}
    first = _run(["chat", "--json", "--user", "5"], stdin='{"text": "/triage"}\n{"button": "tr:urine:no"}\n', env=env)
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert [line["state"] for line in lines] == ["urine", "leaking"]
    second = _run(["chat", "--json", "--user", "5"], stdin='{"text": "nope"}\n', env=env)
    assert json.loads(second.stdout.splitlines()[-1])["state"] == "bowel"


def test_check_reports_coverage() -> None:
    out = _run(["check"])
    assert out.returncode == 0 and "content OK" in out.stdout and "triage flow" in out.stdout


def test_eval_exits_non_zero_below_its_pass_marks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('items:\n- {q: "how do i knit a scarf", kind: answer, topic: basics}\n')
    out = _run(["eval", str(bad)])
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_no_token_starts_the_terminal_chat_with_a_telegram_hint(tmp_path: Path) -> None:
    out = _run([], stdin="how long should i ice my back\n", env={"BOT_DATA_DIR": str(tmp_path)})
    assert "TELEGRAM_BOT_TOKEN" in out.stdout and "15" in out.stdout


def test_chat_json_answers_every_line_even_blank_or_broken(tmp_path: Path) -> None:
    out = _run(["chat", "--json"], stdin='\n{"text": "hi"}\nnot json at all\n[1, 2]\n{"button": "forged"}\n', env={"BOT_DATA_DIR": str(tmp_path)})
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 0 and len(lines) >= 5


def _chat(lines: list[dict], tmp_path: Path) -> list[dict]:
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    out = _run(["chat", "--json", "--user", "9"], stdin=stdin, env={"BOT_DATA_DIR": str(tmp_path)})
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_chat_json_a_sign_typed_in_triage_is_kept_to_the_end(tmp_path: Path) -> None:
    rest = ["leaking", "bowel", "both_legs", "trauma", "chest", "fever", "weight", "cancer", "night", "one_leg", "bones", "immunity"]
    presses = [f"tr:{step}:no" for step in rest]
    presses += ["tr:where:lower", "tr:since:today", "tr:severity:mild", "tr:trigger:lifting", "tr:tried:nothing", "tr:progress:better"]
    lines = _chat([{"text": "/triage"}, {"button": "tr:urine:no"}, {"text": "i cant feel anything when i wipe"},
                   {"button": "tr:continue"}, *({"button": p} for p in presses)], tmp_path)
    assert (lines[2]["kind"], lines[2]["urgency"]) == ("urgent", "emergency")
    outcome = lines[-1]
    assert (outcome["kind"], outcome["urgency"], outcome["state"]) == ("urgent", "emergency", None)
    assert "when wiping: Yes" in outcome["text"]
    assert any(b["data"] == "tr:progress:back" for b in outcome["buttons"]), "Back is still possible after the outcome"


def test_chat_json_a_follow_up_keeps_the_thread(tmp_path: Path) -> None:
    lines = _chat([{"text": "should i use ice on my back"}, {"text": "for how long?"}, {"text": "and at night?"}], tmp_path)
    assert [line["id"] for line in lines[:2]] == ["immediate_relief_ice", "immediate_relief_ice_how"]
    assert lines[2]["topic"] in ("prevention", "immediate_relief")


def test_ctrl_c_leaves_the_terminal_chat_quietly(brain, tmp_path: Path) -> None:
    import io

    from bot.dialogue import Dialogue
    from bot.storage import MemoryStore
    from bot.terminal import _human_chat

    class CtrlC(io.StringIO):
        def readline(self, *_: object) -> str:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert _human_chat(Dialogue(brain, MemoryStore()), 1, CtrlC(), out) == 0
    assert "Traceback" not in out.getvalue()


def test_ctrl_d_leaves_the_terminal_chat_quietly(brain, tmp_path: Path) -> None:
    import io

    from bot.dialogue import Dialogue
    from bot.storage import MemoryStore
    from bot.terminal import _human_chat

    out = io.StringIO()
    assert _human_chat(Dialogue(brain, MemoryStore()), 1, io.StringIO("hi\n"), out) == 0  # end of input after one line
    assert "Traceback" not in out.getvalue() and out.getvalue().endswith("you> \n")


def test_ctrl_d_leaves_the_real_chat_with_exit_code_0(tmp_path: Path) -> None:
    out = _run(["chat"], stdin="", env={"BOT_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0 and "Traceback" not in out.stderr


@pytest.mark.parametrize("command", [[], ["chat"], ["ask"], ["eval"], ["check"], ["run"]])
def test_every_help_says_what_it_does_with_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    text = capsys.readouterr().out
    assert "example" in text.lower() and f"python -m bot {' '.join(command)}".strip() in text


def test_check_lists_every_problem_with_file_line_and_entry(tmp_path: Path) -> None:
    for name in ("faq.yaml", "messages.yaml", "language.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    red_flags = tmp_path / "intents" / "red_flags.yaml"
    red_flags.write_text(red_flags.read_text().replace("    tier: emergency", "    tier: deadly", 1))
    faq = tmp_path / "faq.yaml"
    faq.write_text(faq.read_text().replace("topic: basics", "topic: astrology", 1).replace("    source:", "    sauce:", 1))
    out = _run(["check"], env={"BOT_CONTENT_DIR": str(tmp_path)})
    *problems, summary = out.stderr.splitlines()
    assert out.returncode == 1 and "content OK" not in out.stdout and summary.startswith("3 problems")
    lines = faq.read_text().splitlines()
    topic, entry = lines.index("    topic: astrology") + 1, lines.index("  - id: faq_what_are_back_spasms") + 1
    for expected in (
        rf"faq.yaml:{topic}: entry 'faq_what_are_back_spasms': 'topic' is 'astrology'",
        rf"faq.yaml:{entry}: entry 'faq_what_are_back_spasms': 'source' must be a non-empty text",  # no 'source': the entry
        r"intents/red_flags.yaml:\d+: sign 'urine_retention': 'tier' must be one of",
    ):
        assert any(re.match(expected, line) for line in problems), (expected, problems)


def test_eval_report_draws_the_run_a_clinician_looks_at(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ElementTree

    out = _run(["eval", "tests/data/eval.yaml", "--report", str(tmp_path / "report")])
    console_misses = int(re.search(r"^misses: (\d+)$", out.stdout, re.MULTILINE).group(1))
    page = (tmp_path / "report" / "index.html").read_text()
    svg = ElementTree.parse(tmp_path / "report" / "confusion-eval.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and 'src="confusion-eval.svg"' in page
    assert page.count('<tr class="miss">') == console_misses
    assert "precision" in page and "recall" in page and "F1" in page
    assert out.stdout == _run(["eval", "tests/data/eval.yaml"]).stdout, "the console output is the same with or without a report"
