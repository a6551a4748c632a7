"""DDI Codebook 2.5 XML: the study, the data file and every variable, for archives.

Elements are written in the order the 2.5.1 schema demands (``qstn`` before
``universe``, ``universe`` before ``catgry``...); a test validates the file
against the published XSD. The standard library's ElementTree writes it, so
the format needs nothing beyond the plain install (lxml, a test dependency,
only validates). Per variable: label, question text (web wording
as ``qstnLit``, the telephone wording and interviewer instruction as
``ivuInstr``), universe (the routing in words), categories with the missing
codes flagged ``missing="Y"``, and the SPSS-style format. Multi-select
questions become ``varGrp type="multipleResp"``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from instrument.dataset import Dataset, VariableInfo
from instrument.modes import ModePolicy

__all__ = ["write", "NAMESPACE"]

NAMESPACE = "ddi:codebook:2_5"


def _id(name: str) -> str:
    return "V_" + name


def write(dataset: Dataset, dest: Path, data_file: str | None = None) -> None:
    cb = dataset.codebook
    frame = dataset.frame
    E = _el
    # Elements are named without the namespace and the root declares it as the
    # default: ElementTree's own default_namespace refuses unprefixed attributes.
    root = E("codeBook", xmlns=NAMESPACE, version="2.5", ID="CB_" + cb.questionnaire_id)
    doc = E("docDscr", root)
    doc_cit = E("citation", doc)
    E("titl", E("titlStmt", doc_cit), f"Codebook: {cb.title}")
    prod = E("prodStmt", doc_cit)
    E("software", prod, "survey-instrument", version=cb.version)
    stdy = E("stdyDscr", root)
    cit = E("citation", stdy)
    titl = E("titlStmt", cit)
    E("titl", titl, cb.title)
    E("IDNo", titl, cb.questionnaire_id)
    ver = E("verStmt", cit)
    E(
        "version",
        ver,
        cb.version,
        date=cb.exported_at.date().isoformat() if cb.exported_at else None,
    )
    info = E("stdyInfo", stdy)
    summary = E("sumDscr", info)
    E("anlyUnit", summary, "Individual respondent (one row per interview)")
    E(
        "universe",
        summary,
        "Respondents invited to the survey; see each variable's universe for routing",
    )
    method = E("method", stdy)
    coll = E("dataColl", method)
    for mode in cb.modes:
        policy = cb.mode_policies.get(mode)
        E("collMode", coll, policy.description if policy is not None else mode)
    E(
        "resInstru",
        coll,
        f"Questionnaire {cb.questionnaire_id}, version {', '.join(cb.versions)}; languages {', '.join(cb.languages)}",
    )
    missing_text = "; ".join(f"{code} {label}" for code, label in cb.missing_labels.items())
    E(
        "notes",
        method,
        f"Missing-value codes: {missing_text}. Open-text and date variables hold the same codes as text.",
    )
    file_el = E("fileDscr", root, ID="F1")
    txt = E("fileTxt", file_el)
    E("fileName", txt, data_file or f"{dataset.stem}.csv")
    dims = E("dimensns", txt)
    E("caseQnty", dims, str(len(frame)))
    E("varQnty", dims, str(len(frame.columns)))
    E(
        "fileType",
        txt,
        "Delimited text (CSV, UTF-8) with SPSS, Stata and R setup files; also SPSS .sav and Stata .dta",
    )
    data = E("dataDscr", root)
    present = set(frame.columns)
    for group in cb.groups:
        members = [v for v in group.variables if v in present]
        if not members:
            continue
        grp = E(
            "varGrp",
            data,
            type="multipleResp",
            var=" ".join(_id(v) for v in members),
            name=group.name,
            ID="G_" + group.name,
        )
        E("labl", grp, group.label)
    for name in frame.columns:
        _variable(E, data, cb.variables[name], dataset)
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    with open(dest, "wb") as handle:
        tree.write(handle, xml_declaration=True, encoding="UTF-8")
        handle.write(b"\n")


def _el(tag: str, parent: ET.Element | None = None, text: Any = None, **attrs: Any) -> ET.Element:
    """An element (of the root's default namespace); attributes given as None are left out."""
    el = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    for key, value in attrs.items():
        if value is not None:
            el.set(key, _clean(value))
    if text is not None:
        el.text = _clean(text)
    return el


def _clean(text: Any) -> str:
    """Text XML 1.0 can carry: most control characters dropped, line ends as newlines."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\t\n" or ord(ch) >= 0x20)


def _wordings(
    info: VariableInfo, policies: Mapping[str, ModePolicy], lang: str
) -> tuple[str | None, str | None]:
    """The question as a screen shows it, and as an interviewer reads it (None where no mode does)."""
    screen = phone = None
    for mode, policy in policies.items():
        text = info.texts.get(mode, {}).get(lang)
        if screen is None and not policy.spoken:
            screen = text
        if phone is None and policy.interviewer:
            phone = text
    return screen, phone


def _variable(E: Any, parent: ET.Element, info: VariableInfo, dataset: Dataset) -> None:
    intrvl = "contin" if info.level == "scale" else "discrete"
    attrs = {"ID": _id(info.name), "name": info.name, "files": "F1", "intrvl": intrvl}
    if info.storage == "float" and info.places is not None:
        attrs["dcml"] = str(info.places)
    var = E("var", parent, **attrs)
    E("labl", var, info.label)
    lang = dataset.codebook.default_language
    screen, phone = _wordings(info, dataset.codebook.mode_policies, lang)
    web = screen
    instruction = info.instruction.get(lang)
    if web or phone:
        qstn = E("qstn", var)
        if web or phone:
            E("qstnLit", qstn, web or phone)
        spoken = []
        if phone and phone != web:
            spoken.append(f"Telephone wording: {phone}")
        if instruction:
            spoken.append(f"Interviewer instruction: {instruction}")
        if spoken:
            E("ivuInstr", qstn, " ".join(spoken))
    if info.universe:
        E("universe", var, info.universe)
    notes = []
    if info.derived:
        notes.append("Derived (computed) variable")
    if info.other_of:
        notes.append(f"Other-specify text of {info.other_of}")
    if info.group:
        notes.append(f"One option of the multiple-choice question {info.group}")
    if notes:
        E("txt", var, "; ".join(notes))
    for code, label in info.value_labels.items():
        cat = E("catgry", var)
        E("catValu", cat, str(code))
        E("labl", cat, label)
    for code, label in info.missing.items():
        cat = E("catgry", var, missing="Y", missType=label)
        E("catValu", cat, str(code))
        E("labl", cat, label)
    if info.storage == "str":
        fmt = E("varFormat", var, type="character", schema="other", otherSchema="survey-instrument")
    elif info.storage == "datetime":
        fmt = E("varFormat", var, "YMDHMS19", type="numeric", schema="SPSS", formatname="YMDHMS")
    else:
        fmt = E("varFormat", var, type="numeric", schema="SPSS", formatname="F")
    del fmt
