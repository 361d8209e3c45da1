/// Something the stand-in does at boot, after udev and LVM and before sshd starts. Each runs
/// under `sh -e`; the log is `/var/log/standin-scenario.log`, the exit status
/// `/run/standin-scenario.status`.
public enum StandInAction: Sendable, Hashable {
    case mount(device: String, at: String)
    case swapOn(String)
    /// `pvcreate` the device and `vgextend` the volume group onto it.
    case extendVolumeGroup(String, onto: String)
    /// Removes the disk with this serial from the PCI bus, as if it were pulled.
    case detach(serial: String)
    case shell(String)

    var script: String {
        switch self {
        case .mount(let device, let target): "mkdir -p \(StandInCommand.quote(target))\nmount \(StandInCommand.quote(device)) \(StandInCommand.quote(target))"
        case .swapOn(let device): "swapon \(StandInCommand.quote(device))"
        case .extendVolumeGroup(let vg, let device): "pvcreate -y \(StandInCommand.quote(device))\nvgextend \(StandInCommand.quote(vg)) \(StandInCommand.quote(device))"
        case .detach(let serial):
            """
            for s in /sys/block/vd*/serial; do
              if [ "$(cat "$s")" = \(StandInCommand.quote(serial)) ]; then echo 1 > "$(readlink -f "${s%/serial}/device/..")/remove"; fi
            done
            udevadm settle -t 10
            """
        case .shell(let text): text
        }
    }
}
