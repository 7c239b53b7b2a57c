"""SHIPPER_JOURNAL_INDEX: journal documents may go to an index of their own.

The Elasticsearch sink names each block's indices with one function; when the journal
has its own pattern, this one routes the journal's blocks (known by their shared fields,
`JOURNAL_FIELDS`) to it and every other block to SHIPPER_ES_INDEX.
"""

from __future__ import annotations

from collections.abc import Callable

from shipper.record import Documents
from shipper.settings import NodeLogSettings, SinkSettings
from shipper.sinks.elasticsearch.data_stream import target_pattern
from shipper.sinks.elasticsearch.index_name import compile_index_pattern
from shipper.sources.journal.source import JOURNAL_FIELDS


def journal_indices(
    node: NodeLogSettings, sink: SinkSettings
) -> Callable[[Documents], list[str]] | None:
    """The sink's `indices_of` when SHIPPER_JOURNAL_INDEX differs from SHIPPER_ES_INDEX,
    else None (the sink's own)."""
    if not node.journal_index or node.journal_index == sink.es_index:
        return None
    default = target_pattern(sink).render_all
    journal = compile_index_pattern(node.journal_index).render_all

    def indices_of(block: Documents) -> list[str]:
        return journal(block) if block.fields is JOURNAL_FIELDS else default(block)

    return indices_of
