"""How replies are shaped for Telegram: one message, split to fit, buttons as the Bot API reads them."""

from __future__ import annotations

from bot.outbox import keyboard, letters, merge, split_text
from bot.replies import Button, Reply


def test_a_long_reply_is_split_at_paragraphs_and_every_part_fits() -> None:
    paragraphs = [f"Paragraph {i}: " + ", ".join(["rest and gentle movement"] * 20) for i in range(40)]
    parts = split_text("\n\n".join(paragraphs), limit=1000)
    assert len(parts) > 1
    assert all(len(part) <= 1000 for part in parts)
    assert all(part.startswith("Paragraph") for part in parts), "cut between paragraphs, not inside words"
    assert "\n\n".join(parts) == "\n\n".join(paragraphs), "nothing lost"


def test_a_reply_without_breaks_is_still_cut_to_size() -> None:
    assert [len(p) for p in split_text("x" * 2500, limit=1000)] == [1000, 1000, 500]


def test_short_answers_share_a_row_and_long_ones_stand_alone() -> None:
    buttons = (Button("Yes", "tr:a:yes"), Button("No", "tr:a:no"), Button("Not sure", "tr:a:unsure"), Button("Start over from the beginning", "tr:restart"))
    rows = keyboard(buttons)["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["Yes", "No", "Not sure"], ["Start over from the beginning"]]
    assert rows[0][1] == {"text": "No", "callback_data": "tr:a:no"}


def test_button_data_telegram_would_refuse_is_left_out() -> None:
    assert keyboard((Button("Too long", "x" * 65),)) is None
    assert keyboard(()) is None


def test_replies_to_one_message_become_one_with_the_current_questions_buttons() -> None:
    question = Button("No", "tr:b:no")
    merged = merge([Reply("Please get help now.", "urgent"), Reply("Question 2", "flow", buttons=(question,), state="b")])
    assert merged is not None
    assert merged.text == "Please get help now.\n\nQuestion 2"
    assert merged.buttons == (question,) and merged.state == "b"
    assert merge([]) is None


def test_parts_are_measured_in_telegrams_utf16_units_so_emoji_count_twice() -> None:
    from bot.outbox import MAX_MESSAGE, utf16_len

    parts = split_text("😣" * 5000)  # the probe's 5,000 emoji: 10,000 units
    assert all(utf16_len(p) <= MAX_MESSAGE <= 4096 for p in parts), [utf16_len(p) for p in parts]
    assert "".join(parts) == "😣" * 5000
    mixed = "\n".join(f"Step {i} 🧊🔥 ice, then heat" for i in range(400))
    assert all(utf16_len(p) <= MAX_MESSAGE for p in split_text(mixed))


def test_an_urgent_reply_is_an_urgent_letter_and_a_question_carries_its_step() -> None:
    question = Button("No", "tr:b:no")
    (letter,) = letters([Reply("Call 112 now.", "urgent"), Reply("Question 2", "answer", buttons=(question,), state="b")], 7, 7)
    assert letter.urgent and letter.step == "b" and letter.method == "sendMessage"
    assert letter.params["reply_markup"] == {"inline_keyboard": [[{"text": "No", "callback_data": "tr:b:no"}]]}
