"""A file's options: the pod's annotations decide, else the settings."""

from __future__ import annotations

import dataclasses

from shipper.settings import RecordSettings
from shipper.transforms.enrichment.options import FileOptions, file_options
from tests.transforms.multiline.test_joiner import pod


def test_the_parser_annotation_decides_json_over_the_setting() -> None:
    assert file_options(RecordSettings(merge_json=False), pod(parser="json")).merge_json is True
    assert file_options(RecordSettings(merge_json=False), pod(parser="JSON")).merge_json is True
    assert file_options(RecordSettings(merge_json=True), pod(parser="text")).merge_json is False
    assert file_options(RecordSettings(merge_json=True), pod()).merge_json is True
    assert file_options(RecordSettings(merge_json=True), None).merge_json is True
    assert file_options(RecordSettings(), None).merge_json is False


def test_the_multiline_annotation_wins_over_the_setting() -> None:
    assert file_options(RecordSettings(multiline="java"), pod(multiline="go")).multiline == "go"
    assert file_options(RecordSettings(multiline="java"), pod(multiline=None)).multiline == "java"
    assert file_options(RecordSettings(), None).multiline is None


def test_only_the_exclude_annotation_excludes() -> None:
    excluded = dataclasses.replace(pod(), excluded=True)
    assert file_options(RecordSettings(), excluded).excluded is True
    assert file_options(RecordSettings(), pod()).excluded is False
    assert file_options(RecordSettings(), None).excluded is False


def test_a_file_of_an_unknown_pod_follows_the_settings() -> None:
    settings = RecordSettings(merge_json=True, multiline="python")
    assert file_options(settings, None) == FileOptions(False, True, "python")


def test_a_containers_own_annotation_wins_and_none_turns_an_option_off() -> None:
    annotations = {
        "shipper.io/exclude": "true",
        "shipper.io/exclude-sidecar": "false",
        "shipper.io/parser-app": "json",
        "shipper.io/multiline-sidecar": "none",
    }
    meta = dataclasses.replace(
        pod(multiline="java"), excluded=True, shipper_annotations=annotations
    )
    settings = RecordSettings(multiline="go")
    app, sidecar = file_options(settings, meta, "app"), file_options(settings, meta, "sidecar")
    assert app == FileOptions(excluded=True, merge_json=True, multiline="java")
    assert sidecar == FileOptions(excluded=False, merge_json=False, multiline=None)
    assert file_options(RecordSettings(multiline="go"), None, "sidecar").multiline == "go"
