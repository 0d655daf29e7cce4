"""Monitoring: transactions and outbound calls, metrics, the traffic log.

`transactions` imports neither Prometheus nor the web framework: flows, users and policies
record outbound calls through it. The rest is the server's.
"""

from authgate.monitoring.transactions import (
    ANONYMOUS,
    OutboundCall,
    Transaction,
    clean_target,
    current_transaction,
    outbound_call,
)

__all__ = [
    "ANONYMOUS",
    "OutboundCall",
    "Transaction",
    "clean_target",
    "current_transaction",
    "outbound_call",
]
