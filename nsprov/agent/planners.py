"""Every module's plan function, by module name."""

from nsprov.agent.plan import PLANNERS as NETWORK_PLANNERS
from nsprov.agent.plan_ns import plan_exec, plan_namespace, plan_process

PLANNERS = {**NETWORK_PLANNERS, "namespace": plan_namespace, "process": plan_process, "exec": plan_exec}
