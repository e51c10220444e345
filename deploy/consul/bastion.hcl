# A service registered by the agent on the bastion host itself: no address,
# so the node's address is probed. Settings can be tags as well as meta.
service {
  id   = "bastion-1"
  name = "bastion"
  port = 22
  tags = ["vigie", "vigie_modules=ssh_banner,icmp"]
}
