/// PID 1 of the rehearsal guest. It sources the scenario's data (`scenario.sh`: NICs, VLANs,
/// probes, checks), builds the switch, gateways and probes as network namespaces, brings the
/// node's network up with the real ifupdown2 ("before"), tears it down, brings the generated units
/// up with the real systemd-networkd ("after"), and reports every check on the second serial port.
enum LabGuestScript {
    static let text = #"""
    #!/bin/bash
    # pve2nix rehearsal guest init
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
    mkdir -p /run /tmp /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mount -t devpts devpts /dev/pts
    mkdir -p /run/netns
    exec >/dev/ttyS0 2>&1
    [ -f /lab/scenario/trace ] && set -x
    R=/dev/ttyS1
    result() { echo "$*" > "$R"; }
    finish() { result "END"; sync; echo o > /proc/sysrq-trigger; sleep 10; }
    trap finish EXIT
    hostname lab
    . /lab/scenario/scenario.sh
    result "NOTE|boot|started at $(cut -d' ' -f1 /proc/uptime) s"

    # ifupdown2's udev hotplug rule would run its own ifup concurrently with ours.
    rm -f /lib/udev/rules.d/*ifupdown* /usr/lib/udev/rules.d/*ifupdown*
    /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
    udevadm trigger --action=add >/dev/null 2>&1; udevadm settle --timeout=20
    modprobe -a 8021q bridge bonding veth virtio_net 2>/dev/null
    ip link set lo up

    iface_by_mac() { for d in /sys/class/net/*; do [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { basename "$d"; return; }; done; }
    wait_for() { local i=0; while [ $i -lt $(( $1 * 5 )) ]; do eval "$2" && return 0; sleep 0.2; i=$((i+1)); done; return 1; }

    # The node's NICs, found by MAC; their kernel names are whatever QEMU's order gave them.
    declare -A KNAME SWDEV
    all_macs() { for pair in $NODE_NICS $SWITCH_NICS; do [ -n "$(iface_by_mac "${pair#*=}")" ] || return 1; done; }
    wait_for 20 all_macs || result "NOTE|boot|not every NIC appeared"
    for pair in $NODE_NICS; do KNAME[${pair%%=*}]=$(iface_by_mac "${pair#*=}"); done
    for pair in $NODE_NICS; do result "NOTE|nic|${pair%%=*} is ${KNAME[${pair%%=*}]} (${pair#*=})"; done

    # The switch: a VLAN-filtering bridge per segment; the node's links are trunks (native VLAN 1
    # untagged). Segment 0 carries the management path; a NIC of another bridge has its own, as
    # at a real site, so that it cannot answer for the management address.
    ip netns add sw; ip -n sw link set lo up
    declare -A SEGMENT
    for pair in ${SWITCH_SEGMENTS:-}; do SEGMENT[${pair%%=*}]=${pair#*=}; done
    for s in 0 $(printf '%s\n' "${SEGMENT[@]}" | sort -u); do
      ip -n sw link show "sw$s" >/dev/null 2>&1 && continue
      ip -n sw link add "sw$s" type bridge vlan_filtering 1 vlan_default_pvid 0; ip -n sw link set "sw$s" up
    done
    trunk() {
      ip -n sw link set "$1" master "sw${2:-0}"; ip -n sw link set "$1" up
      for v in $VLANS; do
        if [ "$v" = 1 ]; then bridge -n sw vlan add dev "$1" vid 1 pvid untagged; else bridge -n sw vlan add dev "$1" vid "$v"; fi
      done
    }
    for pair in $SWITCH_NICS; do
      dev=$(iface_by_mac "${pair#*=}"); SWDEV[${pair%%=*}]=$dev
      ip link set "$dev" netns sw
    done
    if [ -n "${SWITCH_BOND:-}" ]; then
      ip -n sw link add swbond type bond mode "$SWITCH_BOND_MODE" miimon 100 lacp_rate fast
      for n in $SWITCH_BOND; do ip -n sw link set "${SWDEV[$n]}" down; ip -n sw link set "${SWDEV[$n]}" master swbond; done
      first=${SWITCH_BOND%% *}
      trunk swbond "${SEGMENT[$first]:-0}"
      for pair in $SWITCH_NICS; do n=${pair%%=*}; case " $SWITCH_BOND " in *" $n "*) ;; *) trunk "${SWDEV[$n]}" "${SEGMENT[$n]:-0}";; esac; done
    else
      for pair in $SWITCH_NICS; do n=${pair%%=*}; trunk "${SWDEV[$n]}" "${SEGMENT[$n]:-0}"; done
    fi

    # Probes: a namespace on an access port of VLAN $2 with address $3 (and $4 on lo).
    PROBES=0
    probe() {
      PROBES=$((PROBES+1)); local port=pv$PROBES
      ip netns add "$1"
      ip link add "$port" netns sw type veth peer name eth0 netns "$1"
      ip -n sw link set "$port" master "sw${SEG:-0}" up
      bridge -n sw vlan add dev "$port" vid "$2" pvid untagged
      # One ip process per namespace: every exec is slow under TCG.
      { echo "link set lo up"; echo "addr add $3 dev eth0"; echo "link set eth0 up"; [ -n "${4:-}" ] && echo "addr add $4 dev lo"; } | ip -n "$1" -batch -
      return 0
    }
    setup_probes
    result "NOTE|boot|probes ready at $(cut -d' ' -f1 /proc/uptime) s"

    check_reach() { # ns target id yes|no [mac]
      local got=no st wait=6
      # A probe that must not be answered only needs ARP's time on its own VLAN.
      [ "$4" = no ] && wait=3
      ip netns exec "$1" ping -c 1 -W 1 -w "$wait" -q "$2" >/dev/null 2>&1 && got=yes
      [ "$got" = "$4" ] && st=PASS || st=FAIL
      result "CHECK|$PHASE|$3|$st|ping $2 from probe $1 on its access VLAN: $([ $got = yes ] && echo answered || echo no answer)"
      if [ -n "${5:-}" ]; then
        local mac; mac=$(ip -n "$1" neigh show "$2" | awk '{for(i=1;i<=NF;i++) if($i=="lladdr") print $(i+1)}')
        result "MAC|$PHASE|$2|${mac:-none}"
      fi
    }
    check_reach_root() {
      local got=no st
      ping -c 1 -W 1 -w 6 -q "$1" >/dev/null 2>&1 && got=yes
      [ "$got" = "$3" ] && st=PASS || st=FAIL
      result "CHECK|$PHASE|$2|$st|ping $1 from the node: $([ $got = yes ] && echo answered || echo no answer)"
    }

    # Guest ports: Proxmox-style veths before, nspawn/Incus-style after.
    guest_ports
    attach_guests() {
      for vmid in $GUEST_PORTS; do
        eval "set -- \$GUEST_$vmid"
        local name=$1 bridge=$2 vid=$3 addr=$4 gw=$5 mac=$6 host ns=ct-$vmid
        ip netns add "$ns" 2>/dev/null; ip -n "$ns" link set lo up
        if [ "$PHASE" = before ]; then host=veth${vmid}i0; else eval "set -- \$AFTER_$vmid"; host=$1; bridge=$2; fi
        ip link add "$host" type veth peer name eth0 netns "$ns"
        [ "$mac" != - ] && ip -n "$ns" link set eth0 address "$mac"
        ip -n "$ns" addr add "$addr" dev eth0; ip -n "$ns" link set eth0 up
        [ "$gw" != - ] && ip -n "$ns" route add default via "$gw"
        ip link set "$host" master "$bridge" && ip link set "$host" up
        if [ "$PHASE" = before ] || [ "${3:-}" = self ]; then
          # What Proxmox (before) and Incus (after) do on a VLAN-filtering bridge.
          if [ "$(cat /sys/class/net/$bridge/bridge/vlan_filtering 2>/dev/null)" = 1 ]; then
            bridge vlan del dev "$host" vid 1 2>/dev/null
            bridge vlan add dev "$host" vid "$vid" pvid untagged
          fi
        elif [ "${3:-}" = networkd ] && [ "${4:-}" != - ]; then
          wait_for 15 "bridge vlan show dev $host | grep -q '$4.*PVID'" || result "NOTE|$PHASE|networkd did not set PVID $4 on $host"
        fi
      done
    }
    detach_guests() { for vmid in $GUEST_PORTS; do ip -n ct-$vmid link del eth0 2>/dev/null; done; }

    settle_links() {
      # LACP needs a few LACPDUs (fast rate: one a second) before the aggregator carries traffic.
      [ -n "${SWITCH_BOND:-}" ] && sleep 4
      return 0
    }

    # ---- before: the Proxmox network with the real ifupdown2 ----
    PHASE=before
    result "NOTE|before|network up at $(cut -d' ' -f1 /proc/uptime) s"
    declare -A TMPN
    i=0; for n in "${!KNAME[@]}"; do ip link set "${KNAME[$n]}" name "pvetmp$i"; TMPN[$n]=pvetmp$i; i=$((i+1)); done
    for n in "${!KNAME[@]}"; do ip link set "${TMPN[$n]}" name "$n"; done
    # ifupdown2 locks /run/network/.lock and takes a missing directory for "another instance".
    mkdir -p /etc/network /run/network; cp -a /lab/scenario/etc-network/. /etc/network/
    ifup -a >/tmp/ifup.log 2>&1 || result "NOTE|before|ifup -a reported errors: $(tail -n 3 /tmp/ifup.log | tr '\n' ' ')"
    ifup -a --allow=hotplug >>/tmp/ifup.log 2>&1
    [ -n "$MGMT_IFACE" ] && { wait_for 15 "ip -4 addr show dev $MGMT_IFACE 2>/dev/null | grep -q inet" || result "NOTE|before|$MGMT_IFACE has no address"; }
    settle_links
    attach_guests
    result "NOTE|before|checks start at $(cut -d' ' -f1 /proc/uptime) s"
    run_checks
    result "NOTE|before|checks done at $(cut -d' ' -f1 /proc/uptime) s"
    detach_guests
    # Tear down by deleting every virtual link (faster than ifdown under TCG, and as thorough).
    for d in $(ls /sys/class/net); do
      case " lo ${!KNAME[*]} " in *" $d "*) ;; *) ip link del "$d" 2>/dev/null;; esac
    done
    for n in "${!KNAME[@]}"; do ip addr flush dev "$n"; ip link set "$n" down; ip link set "$n" nomaster 2>/dev/null; done
    # Back to the kernel's names: the generated units must not depend on names.
    for n in "${!KNAME[@]}"; do ip link set "$n" name "${TMPN[$n]}"; done
    for n in "${!KNAME[@]}"; do ip link set "${TMPN[$n]}" name "${KNAME[$n]}"; done
    ip neigh flush all 2>/dev/null
    for ns in $(ip netns list | awk '{print $1}'); do ip -n "$ns" neigh flush all 2>/dev/null; done

    # ---- after: the generated units with the real systemd-networkd ----
    PHASE=after
    result "NOTE|after|network up at $(cut -d' ' -f1 /proc/uptime) s"
    mkdir -p /etc/systemd/network; cp /lab/scenario/networkd/* /etc/systemd/network/ 2>/dev/null
    udevadm control --reload >/dev/null 2>&1; udevadm trigger --action=add --subsystem-match=net >/dev/null 2>&1; udevadm settle --timeout=10
    mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
    chown -R systemd-network:systemd-network /run/systemd/netif 2>/dev/null
    /lib/systemd/systemd-networkd >/tmp/networkd.log 2>&1 &
    if [ -n "$AFTER_MGMT_IFACE" ]; then
      /lib/systemd/systemd-networkd-wait-online -i "$AFTER_MGMT_IFACE:routable" --timeout=40 >/dev/null 2>&1 || result "NOTE|after|$AFTER_MGMT_IFACE did not become routable within 40 s"
    else
      sleep 5
    fi
    settle_links
    attach_guests
    result "NOTE|after|checks start at $(cut -d' ' -f1 /proc/uptime) s"
    run_checks
    result "NOTE|after|checks done at $(cut -d' ' -f1 /proc/uptime) s"
    """#
}
