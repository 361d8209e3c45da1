/// PID 1 of the rehearsal guest. It sources the scenario's data (`scenario.sh`: NICs, VLANs,
/// probes, checks), builds the switch, gateways and probes as network namespaces, brings the
/// node's network up with the real ifupdown2 ("before"), tears it down, brings the generated units
/// up with the real systemd-networkd ("after"), and reports every check on the second serial port,
/// with a timeline (`TIME|step|seconds since the kernel started`) of where the run spent its time.
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
    # A timeline mark: seconds since the kernel started, read without a fork (every exec is slow under TCG).
    mark() { local up; read -r up _ < /proc/uptime; result "TIME|$1|$up"; }
    finish() {
      # Where the kernel spent its part, from its own log (read at the end, off the measured path).
      dmesg 2>/dev/null | sed -n 's/^\[ *\([0-9.]*\)\] Run \/init as init process.*/TIME|kernel-done|\1/p; s/^\[ *\([0-9.]*\)\] EXT4-fs (vda): mounted.*/TIME|root-mounted|\1/p' > "$R"
      mark end; result "END"; sync; echo o > /proc/sysrq-trigger; sleep 10
    }
    trap finish EXIT
    mark init
    hostname lab
    . /lab/scenario/scenario.sh

    # ifupdown2's udev hotplug rule would run its own ifup concurrently with ours.
    rm -f /lib/udev/rules.d/*ifupdown* /usr/lib/udev/rules.d/*ifupdown*
    # udevd runs from the start, as on the node: the MACs ifupdown2's devices end up with depend on
    # it (without it vmbr0.10 kept a random MAC). Only the NICs are replayed to it: the modules the
    # rest of the coldplug would load are loaded here, and the full replay cost ~10 s under load.
    modprobe -a virtio_net 8021q bridge bonding veth 2>/dev/null
    /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
    udevadm trigger --action=add --subsystem-match=net >/dev/null 2>&1; udevadm settle --timeout=20
    ip link set lo up
    mark modules

    iface_by_mac() { local d a; for d in /sys/class/net/*; do read -r a 2>/dev/null < "$d/address"; [ "$a" = "$1" ] && { echo "${d##*/}"; return; }; done; }
    # Polls $2 until it succeeds or $1 seconds of uptime have passed (a bound in time, not in tries:
    # under load a try itself can take longer than the pause between tries).
    wait_for() {
      local up end; read -r up _ < /proc/uptime; end=$(( ${up%.*} + $1 ))
      while true; do
        eval "$2" && return 0
        read -r up _ < /proc/uptime; [ "${up%.*}" -ge "$end" ] && return 1
        sleep 0.1
      done
    }

    # The node's NICs, found by MAC; their kernel names are whatever QEMU's order gave them.
    declare -A KNAME SWDEV
    all_macs() { for pair in $NODE_NICS $SWITCH_NICS; do [ -n "$(iface_by_mac "${pair#*=}")" ] || return 1; done; }
    wait_for 20 all_macs || result "NOTE|boot|not every NIC appeared"
    for pair in $NODE_NICS; do KNAME[${pair%%=*}]=$(iface_by_mac "${pair#*=}"); done
    for pair in $NODE_NICS; do result "NOTE|nic|${pair%%=*} is ${KNAME[${pair%%=*}]} (${pair#*=})"; done
    mark nics

    # The switch: a VLAN-filtering bridge per segment; the node's links are trunks (native VLAN 1
    # untagged). Segment 0 carries the management path; a NIC of another bridge has its own, as
    # at a real site, so that it cannot answer for the management address. Commands are collected
    # and run as one ip and one bridge batch per namespace: every exec costs a lot under TCG.
    ip netns add sw
    declare -A SEGMENT
    for pair in ${SWITCH_SEGMENTS:-}; do SEGMENT[${pair%%=*}]=${pair#*=}; done
    ROOTB=/tmp/root.ip SWB=/tmp/sw.ip SWV=/tmp/sw.bridge
    : > "$ROOTB"; : > "$SWV"; echo "link set lo up" > "$SWB"
    for s in 0 $(printf '%s\n' "${SEGMENT[@]}" | sort -u); do
      grep -qx "link add sw$s .*" "$SWB" && continue
      echo "link add sw$s type bridge vlan_filtering 1 vlan_default_pvid 0" >> "$SWB"; echo "link set sw$s up" >> "$SWB"
    done
    trunk() {
      echo "link set $1 master sw${2:-0}" >> "$SWB"; echo "link set $1 up" >> "$SWB"
      for v in $VLANS; do
        if [ "$v" = 1 ]; then echo "vlan add dev $1 vid 1 pvid untagged" >> "$SWV"; else echo "vlan add dev $1 vid $v" >> "$SWV"; fi
      done
    }
    for pair in $SWITCH_NICS; do
      dev=$(iface_by_mac "${pair#*=}"); SWDEV[${pair%%=*}]=$dev
      echo "link set $dev netns sw" >> "$ROOTB"
    done
    if [ -n "${SWITCH_BOND:-}" ]; then
      echo "link add swbond type bond mode $SWITCH_BOND_MODE miimon 100 lacp_rate fast" >> "$SWB"
      for n in $SWITCH_BOND; do echo "link set ${SWDEV[$n]} down" >> "$SWB"; echo "link set ${SWDEV[$n]} master swbond" >> "$SWB"; done
      first=${SWITCH_BOND%% *}
      trunk swbond "${SEGMENT[$first]:-0}"
      for pair in $SWITCH_NICS; do n=${pair%%=*}; case " $SWITCH_BOND " in *" $n "*) ;; *) trunk "${SWDEV[$n]}" "${SEGMENT[$n]:-0}";; esac; done
    else
      for pair in $SWITCH_NICS; do n=${pair%%=*}; trunk "${SWDEV[$n]}" "${SEGMENT[$n]:-0}"; done
    fi

    # Probes: a namespace on an access port of VLAN $2 with address $3 (and $4 on lo).
    PROBES=0; PROBE_NS=()
    probe() {
      PROBES=$((PROBES+1)); local port=pv$PROBES
      PROBE_NS+=("$1")
      echo "netns add $1" >> "$ROOTB"
      echo "link add $port netns sw type veth peer name eth0 netns $1" >> "$ROOTB"
      echo "link set $port master sw${SEG:-0}" >> "$SWB"; echo "link set $port up" >> "$SWB"
      echo "vlan add dev $port vid $2 pvid untagged" >> "$SWV"
      { echo "link set lo up"; echo "addr add $3 dev eth0"; echo "link set eth0 up"; [ -n "${4:-}" ] && echo "addr add $4 dev lo"; } > "/tmp/probe-$1.ip"
      return 0
    }
    setup_probes
    ip -force -batch "$ROOTB"; ip -n sw -force -batch "$SWB"; bridge -n sw -force -batch "$SWV"
    for ns in "${PROBE_NS[@]}"; do ip -n "$ns" -force -batch "/tmp/probe-$ns.ip"; done
    mark probes

    nsrun() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
    check_reach() { # ns target id yes|no [mac]
      local got=no st wait=6
      # A probe that must not be answered only needs ARP's time on its own VLAN.
      [ "$4" = no ] && wait=3
      # nsenter rather than 'ip netns exec': the same network namespace without remounting /sys.
      nsrun "$1" ping -c 1 -W 1 -w "$wait" -q "$2" >/dev/null 2>&1 && got=yes
      [ "$got" = "$4" ] && st=PASS || st=FAIL
      local said="no answer"; [ $got = yes ] && said=answered
      result "CHECK|$PHASE|$3|$st|ping $2 from probe $1 on its access VLAN: $said"; mark "check-$PHASE-$3"
      if [ -n "${5:-}" ]; then
        local mac; mac=$(ip -n "$1" neigh show "$2" | awk '{for(i=1;i<=NF;i++) if($i=="lladdr") print $(i+1)}')
        result "MAC|$PHASE|$2|${mac:-none}"
      fi
    }
    check_reach_root() {
      local got=no st
      ping -c 1 -W 1 -w 6 -q "$1" >/dev/null 2>&1 && got=yes
      [ "$got" = "$3" ] && st=PASS || st=FAIL
      local said="no answer"; [ $got = yes ] && said=answered
      result "CHECK|$PHASE|$2|$st|ping $1 from the node: $said"; mark "check-$PHASE-$2"
    }

    # Guest ports: Proxmox-style veths before, nspawn/Incus-style after.
    guest_ports
    attach_guests() {
      local b=/tmp/guests-$PHASE.ip v=/tmp/guests-$PHASE.bridge waits=
      : > "$b"; : > "$v"
      for vmid in $GUEST_PORTS; do
        eval "set -- \$GUEST_$vmid"
        local name=$1 bridge=$2 vid=$3 addr=$4 gw=$5 mac=$6 host ns=ct-$vmid filtering=
        [ "$PHASE" = before ] && echo "netns add $ns" >> "$b"
        if [ "$PHASE" = before ]; then host=veth${vmid}i0; else eval "set -- \$AFTER_$vmid"; host=$1; bridge=$2; fi
        echo "link add $host type veth peer name eth0 netns $ns$([ "$mac" != - ] && echo " address $mac")" >> "$b"
        echo "link set $host master $bridge" >> "$b"; echo "link set $host up" >> "$b"
        { echo "link set lo up"; echo "addr add $addr dev eth0"; echo "link set eth0 up"; [ "$gw" != - ] && echo "route add default via $gw"; } > "/tmp/ct-$vmid.ip"
        if [ "$PHASE" = before ] || [ "${3:-}" = self ]; then
          # What Proxmox (before) and Incus (after) do on a VLAN-filtering bridge.
          read -r filtering 2>/dev/null < "/sys/class/net/$bridge/bridge/vlan_filtering"
          [ "$filtering" = 1 ] && { echo "vlan del dev $host vid 1"; echo "vlan add dev $host vid $vid pvid untagged"; } >> "$v"
        elif [ "${3:-}" = networkd ] && [ "${4:-}" != - ]; then
          waits="$waits $host:$4"
        fi
      done
      ip -force -batch "$b"
      for vmid in $GUEST_PORTS; do ip -n ct-$vmid -force -batch "/tmp/ct-$vmid.ip"; done
      [ -s "$v" ] && bridge -force -batch "$v"
      # networkd configures its own ports' PVIDs: wait for all of them at once, one 'bridge' per poll.
      [ -n "$waits" ] && { mark "$PHASE-ports-attached"; wait_for 15 "pvids_set '$waits'" || result "NOTE|$PHASE|networkd did not set every PVID ($waits) within 15 s"; }
      return 0
    }
    pvids_set() {
      local all w; all=" $(bridge vlan show 2>/dev/null | awk '$1 != "port" && NF { if ($0 !~ /^[ \t]/) { dev = $1; vid = $2 } else vid = $1; if (/PVID/) printf "%s:%s ", dev, vid }')"
      for w in $1; do case "$all" in *" $w "*) ;; *) return 1;; esac; done
    }

    settle_links() {
      # LACP needs a few LACPDUs (fast rate: one a second) before the aggregator carries traffic.
      [ -n "${SWITCH_BOND:-}" ] && sleep 4
      return 0
    }

    # ---- before: the Proxmox network with the real ifupdown2 ----
    PHASE=before
    mark before-start
    declare -A TMPN
    b=/tmp/rename.ip; : > "$b"
    i=0; for n in "${!KNAME[@]}"; do echo "link set ${KNAME[$n]} name pvetmp$i" >> "$b"; TMPN[$n]=pvetmp$i; i=$((i+1)); done
    for n in "${!KNAME[@]}"; do echo "link set ${TMPN[$n]} name $n" >> "$b"; done
    ip -force -batch "$b"
    # ifupdown2 locks /run/network/.lock and takes a missing directory for "another instance".
    mkdir -p /etc/network /run/network; cp -a /lab/scenario/etc-network/. /etc/network/
    ifup -a >/tmp/ifup.log 2>&1 || result "NOTE|before|ifup -a reported errors: $(tail -n 3 /tmp/ifup.log | tr '\n' ' ')"
    # A second ifupdown2 run (seconds under TCG) only where the files have hotplug stanzas.
    grep -rqsE '^[[:space:]]*allow-hotplug' /etc/network && ifup -a --allow=hotplug >>/tmp/ifup.log 2>&1
    mark before-ifup
    [ -n "$MGMT_IFACE" ] && { wait_for 15 "ip -4 addr show dev $MGMT_IFACE 2>/dev/null | grep -q inet" || result "NOTE|before|$MGMT_IFACE has no address"; }
    settle_links
    attach_guests
    mark before-ready
    run_checks
    mark before-checks

    # Tear down by deleting every virtual link (faster than ifdown under TCG, and as thorough); the
    # guests' eth0 go with their veths. All of them in one group and one delete: each deletion on its
    # own waits for an RCU grace period, which takes long in a starved guest.
    b=/tmp/teardown.ip; : > "$b"
    for d in /sys/class/net/*; do
      d=${d##*/}
      case " lo ${!KNAME[*]} " in *" $d "*) ;; *) echo "link set dev $d group 99" >> "$b";; esac
    done
    echo "link del group 99" >> "$b"
    for n in "${!KNAME[@]}"; do echo "addr flush dev $n"; echo "link set $n down"; echo "link set $n nomaster"; done >> "$b"
    # Back to the kernel's names: the generated units must not depend on names.
    for n in "${!KNAME[@]}"; do echo "link set $n name ${TMPN[$n]}"; done >> "$b"
    for n in "${!KNAME[@]}"; do echo "link set ${TMPN[$n]} name ${KNAME[$n]}"; done >> "$b"
    echo "neigh flush all" >> "$b"
    ip -force -batch "$b" 2>/dev/null
    # A group delete refuses every device when one cannot be deleted: those go one by one.
    for d in /sys/class/net/*; do
      d=${d##*/}
      case " lo ${!KNAME[*]} " in *" $d "*) ;; *) [ -d "/sys/class/net/$d" ] && ip link del "$d" 2>/dev/null;; esac
    done
    # The probes' ARP caches must learn the "after" MACs afresh (the MAC check reads them).
    for ns in "${PROBE_NS[@]}"; do ip -n "$ns" neigh flush all 2>/dev/null & done; wait
    mark teardown

    # ---- after: the generated units with the real systemd-networkd ----
    PHASE=after
    mkdir -p /etc/systemd/network; cp /lab/scenario/networkd/* /etc/systemd/network/ 2>/dev/null
    udevadm control --reload >/dev/null 2>&1; udevadm trigger --action=add --subsystem-match=net >/dev/null 2>&1; udevadm settle --timeout=10
    mark after-udev
    mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
    chown -R systemd-network:systemd-network /run/systemd/netif 2>/dev/null
    /lib/systemd/systemd-networkd >/tmp/networkd.log 2>&1 &
    if [ -n "$AFTER_MGMT_IFACE" ]; then
      /lib/systemd/systemd-networkd-wait-online -i "$AFTER_MGMT_IFACE:routable" --timeout=20 >/dev/null 2>&1 || result "NOTE|after|$AFTER_MGMT_IFACE did not become routable within 20 s"
    else
      sleep 5
    fi
    mark after-online
    settle_links
    attach_guests
    mark after-ready
    run_checks
    mark after-checks
    """#
}
