"""The configuration table: every setting once, in check-config's and the README's order.

Loading, `check-config` and the README's configuration table all read it; adding a
variable is one `Variable` in its component's module (plus its field in that component's
part of `Settings`).
"""

from shipper.config.table.delivery import DELIVERY
from shipper.config.table.elasticsearch import ELASTICSEARCH
from shipper.config.table.filtering import FILTERING
from shipper.config.table.kubernetes import KUBERNETES
from shipper.config.table.node_logs import NODE_LOGS
from shipper.config.table.observe import OBSERVE
from shipper.config.table.records import RECORDS
from shipper.config.table.tail import TAIL
from shipper.config.table.targets import TARGETS
from shipper.config.table.variable import Variable

TABLE: tuple[Variable, ...] = (
    *TAIL,
    *ELASTICSEARCH,
    *TARGETS,
    *DELIVERY,
    *KUBERNETES,
    *RECORDS,
    *FILTERING,
    *OBSERVE,
    *NODE_LOGS,
)

__all__ = ["TABLE", "Variable"]
