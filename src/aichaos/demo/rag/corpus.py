"""The RAG demo's bundled corpus and its labelled questions, written for the demo.

No download: three dozen short passages about a fictional observatory, each with words
no other passage uses, so a bag-of-words embedder retrieves the right one for a question
that names them. Each question is labelled with the passage that answers it; an answer
citing ``[doc-NN]`` can be checked against that label.

Two index versions are built from it: ``v1`` holds the first :data:`V1_PASSAGES`
passages (last season's documents), ``v2`` all of them. A stale index (``v1`` served
after ``v2``) answers the newer questions from the wrong passages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["PASSAGES", "QUESTIONS", "TOOL", "V1_PASSAGES", "passages", "write_prompts"]

#: (passage id, text): the current corpus
PASSAGES: list[tuple[str, str]] = [
    ("doc-01", "The Halden Observatory sits on Mount Vesk at 2,410 metres above sea level."),
    ("doc-02", "Visitors reach the observatory by the cable car from Ostrow, which runs hourly."),
    ("doc-03", "The main telescope is a 1.8 metre Ritchey-Chretien reflector named Aurelia."),
    ("doc-04", "Aurelia's mirror was polished in Jena and recoated with aluminium in 2019."),
    ("doc-05", "The dome rotates on forty steel bogies driven by two electric motors."),
    ("doc-06", "Night observing shifts start at dusk and end at nautical dawn."),
    ("doc-07", "Guest astronomers book telescope time through the proposal portal each April."),
    ("doc-08", "The spectrograph Meridian splits starlight into four thousand channels."),
    ("doc-09", "Meridian is cooled with liquid nitrogen refilled every morning at nine."),
    ("doc-10", "The weather mast measures humidity; above 85 percent the dome must close."),
    ("doc-11", "Lightning protection grounds every mast through copper rods into granite."),
    ("doc-12", "The library keeps photographic glass plates dating back to 1931."),
    ("doc-13", "Plate digitisation uses a flatbed scanner at 2,400 dots per inch."),
    ("doc-14", "The canteen serves barley soup and rye bread until midnight."),
    ("doc-15", "Staff cottages are heated by a wood pellet boiler below the car park."),
    ("doc-16", "Snow clearing on the access road is done by a tracked ratrac vehicle."),
    ("doc-17", "The seismometer vault records tremors from the Vesk fault line."),
    ("doc-18", "Radio silence is required near the hydrogen maser clock in the basement."),
    ("doc-19", "The maser keeps time to one second in ten million years."),
    ("doc-20", "Outreach evenings show Saturn through the refractor on Fridays in summer."),
    ("doc-21", "School groups must register three weeks ahead for the planetarium show."),
    ("doc-22", "The planetarium projector is a laser system installed in 2021."),
    ("doc-23", "Archive data from Meridian is public after a twelve month embargo."),
    ("doc-24", "The observatory budget is funded by the Vesk regional science council."),
    ("doc-25", "Since 2026 the adaptive optics unit Kestrel corrects turbulence at 1,000 hertz."),
    ("doc-26", "Kestrel's deformable mirror has 492 actuators behind a thin glass sheet."),
    ("doc-27", "The new sodium laser guide star beams from the dome on clear nights."),
    ("doc-28", "Aircraft spotters pause the sodium laser whenever a plane crosses the beam."),
    ("doc-29", "A solar array on the south ridge feeds 340 kilowatts into the battery bank."),
    ("doc-30", "The battery bank stores enough charge for three nights without the grid."),
    ("doc-31", "The exoplanet survey Lantern monitors eighty thousand dwarf stars."),
    ("doc-32", "Lantern flags transits when a star dims by more than two millimagnitudes."),
    ("doc-33", "Robotic scheduling software Osprey picks targets by airmass and moon distance."),
    ("doc-34", "Osprey hands over to a human operator when wind gusts exceed fifteen metres."),
    ("doc-35", "The visitor centre opened a meteorite gallery with the Tarn iron fragment."),
    ("doc-36", "The Tarn iron fragment weighs eleven kilograms and fell near Ostrow in 1887."),
]

#: passages in the older index version ``v1``
V1_PASSAGES = 24

#: (question, id of the passage that answers it), one per passage
QUESTIONS: list[tuple[str, str]] = [
    ("How high above sea level is the Halden Observatory on Mount Vesk?", "doc-01"),
    ("How do visitors get there: how often does the cable car from Ostrow run?", "doc-02"),
    ("What kind of reflector is the main telescope Aurelia?", "doc-03"),
    ("Where was Aurelia's mirror polished and when was it recoated?", "doc-04"),
    ("How many steel bogies does the dome rotate on?", "doc-05"),
    ("When do night observing shifts start and end?", "doc-06"),
    ("How do guest astronomers book telescope time?", "doc-07"),
    ("How many channels does the Meridian spectrograph split starlight into?", "doc-08"),
    ("How is Meridian cooled and when is the nitrogen refilled?", "doc-09"),
    ("At what humidity must the dome close?", "doc-10"),
    ("How is lightning protection grounded?", "doc-11"),
    ("How old are the photographic glass plates in the library?", "doc-12"),
    ("What scanner does plate digitisation use?", "doc-13"),
    ("Until when does the canteen serve barley soup?", "doc-14"),
    ("How are the staff cottages heated?", "doc-15"),
    ("Who does snow clearing on the access road?", "doc-16"),
    ("What does the seismometer vault record?", "doc-17"),
    ("Why is radio silence required in the basement?", "doc-18"),
    ("For how many years does the maser keep time to one second?", "doc-19"),
    ("When do outreach evenings show Saturn?", "doc-20"),
    ("How early must school groups register for the planetarium?", "doc-21"),
    ("What projector does the planetarium have?", "doc-22"),
    ("When is Meridian archive data public after its embargo?", "doc-23"),
    ("Who funds the observatory budget?", "doc-24"),
    ("How fast does the adaptive optics unit Kestrel correct turbulence?", "doc-25"),
    ("How many actuators does Kestrel's deformable mirror have?", "doc-26"),
    ("What does the sodium laser guide star do?", "doc-27"),
    ("When do aircraft spotters pause the laser?", "doc-28"),
    ("How many kilowatts does the solar array on the south ridge feed?", "doc-29"),
    ("How long can the battery bank run without the grid?", "doc-30"),
    ("How many dwarf stars does the exoplanet survey Lantern monitor?", "doc-31"),
    ("When does Lantern flag transits?", "doc-32"),
    ("How does the robotic scheduling software Osprey pick targets?", "doc-33"),
    ("When does Osprey hand over to a human operator?", "doc-34"),
    ("What is in the visitor centre's meteorite gallery?", "doc-35"),
    ("How many kilograms does the Tarn fragment weigh?", "doc-36"),
]


def passages(version: str) -> list[tuple[str, str]]:
    """The passages of index ``version`` (``v1`` or ``v2``)."""
    if version == "v1":
        return PASSAGES[:V1_PASSAGES]
    if version == "v2":
        return list(PASSAGES)
    raise ValueError(f"index version must be v1 or v2, got {version!r}")


#: the tool the bundled tool-call prompts offer (a client-side action on a passage)
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "show_passage",
        "description": "Show the user a passage of the observatory handbook.",
        "parameters": {
            "type": "object",
            "properties": {
                "doc_id": {"type": "string", "pattern": "^doc-[0-9]+$"},
                "max_words": {"type": "integer", "minimum": 1},
            },
            "required": ["doc_id", "max_words"],
            "additionalProperties": False,
        },
    },
}


def write_prompts(folder: Path) -> dict[str, Path]:
    """Write the labelled prompt files (JSONL, one request a line) into ``folder``.

    ``prompts`` streams (``stream: true`` with usage), ``prompts_whole`` asks for whole
    answers, ``prompts_tools`` offers :data:`TOOL` and requires a call. Each line is
    ``{"body": ..., "expect": ...}`` as the ``llm`` quality task reads it: an answer must
    cite the passage that answers the question (``regex: \\[doc-07\\]``); a tool prompt
    must call ``show_passage`` with valid arguments (and is not judged for groundedness:
    a tool call has no text to ground).
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for key, extra in (
        ("prompts", {"stream": True, "stream_options": {"include_usage": True}}),
        ("prompts_whole", {"stream": False}),
        ("prompts_tools", {"stream": True, "tools": [TOOL], "tool_choice": "required"}),
    ):
        path = folder / f"{key.replace('_', '-')}.jsonl"
        lines = []
        for question, doc in QUESTIONS:
            expect: dict[str, Any] = (
                {"tool_call": "show_passage", "grounded": False}
                if "tools" in extra
                else {"regex": re.escape(f"[{doc}]")}
            )
            body = {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}
            lines.append(json.dumps({"body": body, "expect": expect}))
        path.write_text("\n".join(lines) + "\n")
        out[key] = path
    return out
