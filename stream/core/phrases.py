"""The short texts Vigil itself writes (not the planners' templates): answers, updates, stand-downs.

One table per language; a phrase missing in a language falls back to English, so a half-done translation
still reads. Every language has exactly the English placeholders (tests/stream/core/test_phrases.py). Texts
other than English await review by native speakers (docs/languages.md). ``what.<kind>`` name what happened
(the alert templates' ``what`` is still filled in English; the answer page uses these).
"""

from __future__ import annotations

from collections.abc import Iterable

ENGLISH = "en"

PHRASES: dict[str, dict[str, str]] = {
    ENGLISH: {
        "answer.ack": "acknowledged",
        "answer.on_my_way": "on the way",
        "answer.unable": "can't respond",
        "answers.title": "VIGIL: who is going - {place}",
        "answers.line": "{name}, {team}: {answer}, {at}",
        "answers.team_line": "{team}: {answer}, {at}",
        "answers.ref": "Ref {ref}",
        "stand_down.title": "VIGIL on-call: stand down - {place}",
        "stand_down.body": "Stand down: {team} answered after the escalation.",
        "what.person_shot": "Person shot",
        "what.shots_fired": "Shots fired",
        "what.shotspotter": "ShotSpotter activation",
        "what.gsw_arrival": "Gunshot patient arrived",
        "what.fatal": "{what} (fatal)",
        "drill.prefix": "DRILL",
        "drill.body": "DRILL - not a real shooting, practice only.",
        "standdown.redirect": "{team} is stood down until {until} ({reason}): this alert comes to you instead.",
        "standdown.ended.title": "VIGIL on-call: {subject} is back on alerts",
        "standdown.ended.body": "The standdown of {subject} ({reason}) ended at {at}: its alerts go to it again.",
        "repage.body": "Paged again by DNS.",
        "task.bedside": "bedside visit",
        "task.family_contact": "family contact",
        "task.retaliation_checkin": "retaliation check-in",
        "task.school_followup": "school follow-up",
        "task.reminder.title": "VIGIL follow-up: {task} - {place}",
        "task.reminder.body": "Follow-up due {due}: {task} for {team} after the shooting in {place} ({opened}). Ref {ref}",
        "task.overdue.title": "VIGIL on-call: follow-up overdue - {place}",
        "task.overdue.body": "{team}'s {task} after the shooting in {place} ({opened}) was due {due} and is not closed. Ref {ref}",
    },
    # Spanish: awaiting review by a native speaker
    "es": {
        "answer.ack": "recibido",
        "answer.on_my_way": "en camino",
        "answer.unable": "no puede responder",
        "answers.title": "VIGIL: quién va - {place}",
        "answers.line": "{name}, {team}: {answer}, {at}",
        "answers.team_line": "{team}: {answer}, {at}",
        "answers.ref": "Ref {ref}",
        "stand_down.title": "VIGIL guardia: retírese - {place}",
        "stand_down.body": "Retírese: {team} respondió después del escalamiento.",
        "what.person_shot": "Persona herida de bala",
        "what.shots_fired": "Disparos",
        "what.shotspotter": "Activación de ShotSpotter",
        "what.gsw_arrival": "Llegó un paciente con herida de bala",
        "what.fatal": "{what} (mortal)",
        "drill.prefix": "DRILL (SIMULACRO)",
        "drill.body": "DRILL (SIMULACRO) - no es un tiroteo real, solo práctica.",
        "standdown.redirect": "{team} está fuera de servicio hasta las {until} ({reason}): esta alerta le llega a usted.",
        "standdown.ended.title": "VIGIL guardia: {subject} vuelve a recibir alertas",
        "standdown.ended.body": "La suspensión de {subject} ({reason}) terminó a las {at}: sus alertas le llegan de nuevo.",
        "repage.body": "DNS le avisa de nuevo.",
        "task.bedside": "visita junto a la cama",
        "task.family_contact": "contacto con la familia",
        "task.retaliation_checkin": "seguimiento de represalia",
        "task.school_followup": "seguimiento escolar",
        "task.reminder.title": "VIGIL seguimiento: {task} - {place}",
        "task.reminder.body": "Seguimiento para {due}: {task} de {team} después del tiroteo en {place} ({opened}). Ref {ref}",
        "task.overdue.title": "VIGIL guardia: seguimiento vencido - {place}",
        "task.overdue.body": "{task} de {team} después del tiroteo en {place} ({opened}) vencía {due} y no está cerrado. Ref {ref}",
    },
    # Somali: awaiting review by a native speaker
    "so": {
        "answer.ack": "waa la helay",
        "answer.on_my_way": "waa soo socdaa",
        "answer.unable": "ma jawaabi karo",
        "answers.title": "VIGIL: yaa imanaya - {place}",
        "answers.line": "{name}, {team}: {answer}, {at}",
        "answers.team_line": "{team}: {answer}, {at}",
        "answers.ref": "Tix. {ref}",
        "stand_down.title": "VIGIL diyaarka: joogso - {place}",
        "stand_down.body": "Joogso: {team} ayaa jawaabay kadib kor u qaadidda.",
        "what.person_shot": "Qof xabbad ku dhacday",
        "what.shots_fired": "Rasaas la riday",
        "what.shotspotter": "Digniin ShotSpotter",
        "what.gsw_arrival": "Bukaan xabbad ku dhacday ayaa yimid",
        "what.fatal": "{what} (dhimasho)",
        "drill.prefix": "DRILL (LAYLI)",
        "drill.body": "DRILL (LAYLI) - ma aha toogasho dhab ah, waa tababar keliya.",
        "standdown.redirect": "{team} shaqada kama jiraan ilaa {until} ({reason}): digniintan adiga ayay kuu timid.",
        "standdown.ended.title": "VIGIL diyaarka: {subject} waxay dib u helayaan digniinaha",
        "standdown.ended.body": "Joojinta {subject} ({reason}) waxay dhammaatay {at}: digniinahooda way u noqonayaan.",
        "repage.body": "DNS ayaa mar kale ku soo wacday.",
        "task.bedside": "booqasho sariirta agtiisa",
        "task.family_contact": "la xiriirka qoyska",
        "task.retaliation_checkin": "hubinta aargoosiga",
        "task.school_followup": "dabagalka dugsiga",
        "task.reminder.title": "VIGIL dabagal: {task} - {place}",
        "task.reminder.body": "Dabagal waqtigiisu yahay {due}: {task} ee {team} kadib toogashada {place} ({opened}). Tix. {ref}",
        "task.overdue.title": "VIGIL diyaarka: dabagal dib u dhacay - {place}",
        "task.overdue.body": "{task} ee {team} kadib toogashada {place} ({opened}) waxay ahayd {due} lamana xirin. Tix. {ref}",
    },
    # Hmong (White Hmong, RPA): awaiting review by a native speaker
    "hmn": {
        "answer.ack": "lees paub lawm",
        "answer.on_my_way": "tab tom tuaj",
        "answer.unable": "tuaj tsis tau",
        "answers.title": "VIGIL: leej twg tab tom mus - {place}",
        "answers.line": "{name}, {team}: {answer}, {at}",
        "answers.team_line": "{team}: {answer}, {at}",
        "answers.ref": "Ref {ref}",
        "stand_down.title": "VIGIL neeg zov: tsis tas mus - {place}",
        "stand_down.body": "Tsis tas mus lawm: {team} tau teb tom qab xa mus rau qib siab.",
        "what.person_shot": "Neeg raug phom",
        "what.shots_fired": "Tua phom",
        "what.shotspotter": "ShotSpotter ceeb toom",
        "what.gsw_arrival": "Neeg mob raug phom tuaj txog",
        "what.fatal": "{what} (tuag)",
        "drill.prefix": "DRILL (KEV XYAUM)",
        "drill.body": "DRILL (KEV XYAUM) - tsis yog kev tua phom tiag, tsuas yog xyaum xwb.",
        "standdown.redirect": "{team} tsis ua haujlwm txog {until} ({reason}): daim ntawv ceeb toom no los rau koj.",
        "standdown.ended.title": "VIGIL neeg zov: {subject} rov qab txais ceeb toom",
        "standdown.ended.body": "Lub sijhawm so ntawm {subject} ({reason}) xaus thaum {at}: lawv cov ceeb toom rov mus rau lawv.",
        "repage.body": "DNS hu koj dua.",
        "task.bedside": "mus saib ntawm txaj",
        "task.family_contact": "tiv tauj tsev neeg",
        "task.retaliation_checkin": "kuaj xyuas kev ua pauj",
        "task.school_followup": "tsev kawm ntawv saib xyuas",
        "task.reminder.title": "VIGIL saib xyuas: {task} - {place}",
        "task.reminder.body": "Saib xyuas txog {due}: {task} rau {team} tom qab kev tua phom hauv {place} ({opened}). Ref {ref}",
        "task.overdue.title": "VIGIL neeg zov: saib xyuas dhau sijhawm - {place}",
        "task.overdue.body": "{task} ntawm {team} tom qab kev tua phom hauv {place} ({opened}) yuav tsum ua txog {due} thiab tseem tsis tau kaw. Ref {ref}",
    },
}


def phrase(key: str, language: str = ENGLISH, **values: object) -> str:
    """The phrase ``key`` in ``language`` (English when that language lacks it), filled with ``values``."""
    table = PHRASES.get(language, {})
    text = table.get(key) or PHRASES[ENGLISH][key]
    return text.format(**values) if values else text


def drilled(title: str, body: str, language: str = ENGLISH) -> tuple[str, str]:
    """A drill's message: DRILL before the title and as the body's first line, in ``language`` (the English word kept)."""
    return f"{phrase('drill.prefix', language)} {title}", f"{phrase('drill.body', language)}\n{body}"


def language_for(preferred: Iterable[str], available: Iterable[str]) -> str:
    """The first of a person's languages (preferred first) that Vigil has texts in; English otherwise."""
    have = set(available)
    return next((code for code in preferred if code in have), ENGLISH)
