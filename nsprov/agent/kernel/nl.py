"""rtnetlink's numbers, once, for the dumps (rtdump.py) and the change requests (rtwrite.py).
Values from the kernel's uapi headers (linux/rtnetlink.h, linux/if_link.h, linux/netlink.h)."""

# message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3

# header flags
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_DUMP = 0x300

# link attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_GROUP, IFLA_NET_NS_FD = 16, 18, 20, 27, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_LINK, IFLA_LINK_NETNSID = 5, 37
IFLA_PROP_LIST, IFLA_ALT_IFNAME = 52, 53
RTM_NEWLINKPROP, RTM_DELLINKPROP = 108, 109
IFLA_BR_STP_STATE = 5
VETH_INFO_PEER = 1
IFF_UP = 1
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing", 5: "dormant", 6: "up"}

# address attributes
IFA_ADDRESS, IFA_LOCAL = 1, 2

# route attributes and values
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RTN_UNICAST = 254, 4, 0, 253, 1
PROTOS = {2: "kernel", 3: "boot", 4: "static"}
