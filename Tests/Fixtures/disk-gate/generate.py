#!/usr/bin/env python3
"""Writes the disk-gate fixtures: for each scenario, lsblk.json and disk-by-id.txt as
util-linux 2.38 and udev print them (`lsblk -J -b -O`, limited to the columns below, and
`ls -l /dev/disk/by-id`). Re-run after changing a scenario:

    python3 Tests/Fixtures/disk-gate/generate.py

Three nodes as the planner saw them (mounted, running Proxmox), and what each looks like in the
installer afterwards, unchanged or changed in one way. README.md lists them.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# The columns of `lsblk -O` the fixtures carry, in the order lsblk prints them.
COLUMNS = ["fstype", "fsver", "hotplug", "kname", "label", "maj:min", "model", "name", "partlabel", "parttype",
           "parttypename", "partuuid", "path", "pkname", "pttype", "ptuuid", "rm", "ro", "rota", "serial", "size",
           "start", "mountpoint", "mountpoints", "tran", "type", "uuid", "wwn"]

BIOS_BOOT = ("21686148-6449-6e6f-744e-656564454649", "BIOS boot")
ESP = ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System")
LINUX_LVM = ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM")
LINUX_RAID = ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID")
ZFS = ("6a898cc3-1dd2-11b2-99a6-080020736631", "Solaris /usr & Apple ZFS")
ZFS_RESERVED = ("6a945a3b-1dd2-11b2-99a6-080020736631", "Solaris reserved 1")


def disk(kname, size, model, serial, wwn, tran, ptuuid, children, rota=False, hotplug=False, rm=False):
    return dict(name=kname, kname=kname, type="disk", size=size, model=model, serial=serial, wwn=wwn, tran=tran,
                rota=rota, hotplug=hotplug, rm=rm, pttype="gpt" if ptuuid else None, ptuuid=ptuuid, children=children)


def part(n, start, size, kind, partuuid, fstype=None, uuid=None, label=None, fsver=None, mounts=(), children=()):
    return dict(partn=n, type="part", start=start, size=size, parttype=kind[0], parttypename=kind[1], partuuid=partuuid,
                fstype=fstype, uuid=uuid, label=label, fsver=fsver, mountpoints=list(mounts), children=list(children))


def dm(name, kname, size, type="lvm", fstype=None, uuid=None, fsver=None, mounts=(), children=()):
    return dict(name=name, kname=kname, type=type, size=size, fstype=fstype, uuid=uuid, fsver=fsver,
                mountpoints=list(mounts), children=list(children))


# --- The Proxmox node: NVMe boot disk (BIOS boot, ESP, LVM PV with VG pve), SATA SSD with ZFS tank.

PV_UUID = "Xy3kLm-9QpR-2sTu-V4wX-y5Z6-a7Bc-D8eF9g"


def thin_pool(first_dm, mounts_ct=()):
    """pve-data: a thin pool; lsblk shows it (and its thin volumes) under both _tmeta and _tdata."""
    pool = lambda: dm("pve-data-tpool", f"dm-{first_dm + 2}", 852551008256, children=[
        dm("pve-data", f"dm-{first_dm + 3}", 852551008256),
        dm("pve-vm--100--disk--0", f"dm-{first_dm + 4}", 8589934592, fstype="ext4",
           uuid="5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", fsver="1.0", mounts=mounts_ct)])
    return [dm("pve-data_tmeta", f"dm-{first_dm}", 8589934592, children=[pool()]),
            dm("pve-data_tdata", f"dm-{first_dm + 1}", 852551008256, children=[pool()])]


def pve_lvs(first_dm=0, mounted=True, swap=None, ct_mount=()):
    swap = mounted if swap is None else swap
    return [dm("pve-swap", f"dm-{first_dm}", 8589934592, fstype="swap", uuid="0d7e1c2b-3a4f-4b5c-9d6e-7f8a9b0c1d2e",
               fsver="1", mounts=["[SWAP]"] if swap else []),
            dm("pve-root", f"dm-{first_dm + 1}", 103079215104, fstype="ext4", uuid="4c5d6e7f-8a9b-4c0d-8e1f-2a3b4c5d6e7f",
               fsver="1.0", mounts=["/"] if mounted else []),
            ] + thin_pool(first_dm + 2, ct_mount)


def nvme_boot(kname="nvme0n1", lvs=None, mounted=True):
    return disk(kname, 1000204886016, "Samsung SSD 980 PRO 1TB", "S5GXNF0T512345A", "eui.002538b511a2c3d4", "nvme",
                "a7f3c2e1-5b6d-4c8e-9f0a-1b2c3d4e5f60", [
                    part(1, 34, 1031168, BIOS_BOOT, "6b1c1e2f-0a3b-4c5d-8e9f-000000000001"),
                    part(2, 2048, 1073741824, ESP, "6b1c2e2f-0a3b-4c5d-8e9f-000000000002", "vfat", "7A3B-1C2D",
                         fsver="FAT32", mounts=["/boot/efi"] if mounted else []),
                    part(3, 2099200, 999130068480, LINUX_LVM, "6b1c3e2f-0a3b-4c5d-8e9f-000000000003", "LVM2_member",
                         PV_UUID, fsver="LVM2 001", children=pve_lvs(mounted=mounted) if lvs is None else lvs),
                ])


def sata_tank(kname="sda"):
    return disk(kname, 2000398934016, "Samsung SSD 870 EVO 2TB", "S6PNNJ0W123456B", "0x5002538f4212abcd", "sata",
                "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", [
                    part(1, 2048, 2000389406720, ZFS, "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "zfs_member",
                         "11942083712345678901", label="tank", fsver="5000"),
                    part(9, 3907012608, 8388608, ZFS_RESERVED, "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f"),
                ])


def pve(mounted=True, **nvme):
    return [sata_tank(), nvme_boot(mounted=mounted, **nvme)]


def blank_sata(kname, serial="WD-WX21A9876543", wwn="0x50014ee2b1c2d3e4"):
    return disk(kname, 1000204886016, "WDC WD10EZEX-00BBHA0", serial, wwn, "sata", None, [], rota=True)


def usb_stick(kname):
    return disk(kname, 30752000000, "Ultra Fit", "4C530001230416115334", None, "usb", "0x1a2b3c4d", [],
                hotplug=True, rm=True)


# --- Proxmox's ZFS RAID1: rpool mirrored over two SAS disks, nothing in lsblk mounted.

def sas_rpool(kname, serial, wwn, pool_guid="9876543210987654321", ptuuid=None):
    tag = serial[-1].lower()
    return disk(kname, 4000787030016, "ST4000NM0025", serial, wwn, "sas", ptuuid or f"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f{tag}", [
        part(1, 34, 1031168, BIOS_BOOT, f"1a2b3c4d-0000-4000-8000-00000000001{tag}"),
        part(2, 2048, 1073741824, ESP, f"1a2b3c4d-0000-4000-8000-00000000002{tag}", "vfat", f"5E6F-7A8{tag.upper()}", fsver="FAT32"),
        part(3, 2099200, 3999711772160, ZFS, f"1a2b3c4d-0000-4000-8000-00000000003{tag}", "zfs_member", pool_guid,
             label="rpool", fsver="5000"),
    ], rota=True)


SAS_A = ("ZC1ABCDE", "0x5000c500a1b2c3d4")
SAS_B = ("ZC1ABCDF", "0x5000c500a1b2c3e5")


def zfs_mirror(a="sda", b="sdb"):
    return [sas_rpool(a, *SAS_A), sas_rpool(b, *SAS_B)]


# --- Debian-installed Proxmox: md RAID1 → LUKS → LVM vg0 (root, swap) on two SATA SSDs without WWN.

MD_UUID = "3b5c7a1e-9d2f-4a6b-8c0e-1f2a3b4c5d6e"


def md_stack(md="md0", crypt=("md0_crypt", "dm-0"), mounted=True, root_mount=None, first_dm=1):
    lvs = [dm("vg0-root", f"dm-{first_dm}", 400000000000, fstype="ext4", uuid="8d9e0f1a-2b3c-4d5e-9f6a-7b8c9d0e1f2a", fsver="1.0",
              mounts=["/"] if mounted else ([root_mount] if root_mount else [])),
           dm("vg0-swap", f"dm-{first_dm + 1}", 8589934592, fstype="swap", uuid="9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b", fsver="1",
              mounts=["[SWAP]"] if mounted else [])]
    cr = dm(crypt[0], crypt[1], 478953848832, type="crypt", fstype="LVM2_member", uuid="pQ7rS8-tU9v-W0xY-1zA2-bC3d-E4fG-5hI6jK",
            fsver="LVM2 001", children=lvs)
    return dm(md, md, 478970626048, type="raid1", fstype="crypto_LUKS", uuid="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", fsver="2",
              children=[cr])


def md_disk(kname, serial, esp_mounted, stack, array_uuid=MD_UUID, tag=None):
    tag = tag or serial[-1].lower()
    raid = part(2, 1050624, 478987403264, LINUX_RAID, f"4d5e6f7a-0000-4000-8000-00000000002{tag}", "linux_raid_member",
                array_uuid, label="pve3:0", fsver="1.2", children=[stack] if stack else [])
    return disk(kname, 480103981056, "KINGSTON SA400S37480G", serial, None, "sata", f"4d5e6f7a-1111-4222-8333-44445555666{tag}", [
        part(1, 2048, 536870912, ESP, f"4d5e6f7a-0000-4000-8000-00000000001{tag}", "vfat", f"6F7A-8B9{tag.upper()}", fsver="FAT32",
             mounts=["/boot/efi"] if esp_mounted else []),
        raid])


MD_A, MD_B = "50026B7784A1B2C3", "50026B7784A1B2C4"


def md_node(mounted=True, md="md0", crypt=("md0_crypt", "dm-0"), assembled=True, root_mount=None):
    stack = md_stack(md, crypt, mounted, root_mount) if assembled else None
    return [md_disk("sda", MD_A, mounted, stack), md_disk("sdb", MD_B, False, stack)]


# --- A QEMU disk without serial or WWN (allowed only when site.toml names it).

def qemu_disk(mounted=True):
    return disk("sda", 68719476736, "QEMU HARDDISK", None, None, None, "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b", [
        part(1, 34, 1031168, BIOS_BOOT, "7e8f9a0b-0000-4000-8000-000000000001"),
        part(2, 2048, 1073741824, ESP, "7e8f9a0b-0000-4000-8000-000000000002", "vfat", "1B2C-3D4E", fsver="FAT32",
             mounts=["/boot/efi"] if mounted else []),
        part(3, 2099200, 67643637248, LINUX_LVM, "7e8f9a0b-0000-4000-8000-000000000003", "LVM2_member",
             "Qm1nO2-pQ3r-S4tU-v5W6-x7Y8-z9A0-bC1dE2", fsver="LVM2 001", children=[
                 dm("pve-root", "dm-0", 60129542144, fstype="ext4", uuid="6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", fsver="1.0",
                    mounts=["/"] if mounted else [])]),
    ], rota=True)


# --- Rendering

def majmin(kname, counters):
    if kname.startswith("nvme"):
        counters["nvme"] = counters.get("nvme", -1) + 1
        return f"259:{counters['nvme']}"
    if kname.startswith("dm-"):
        return f"252:{kname[3:]}"
    if kname.startswith("md"):
        return f"9:{''.join(c for c in kname if c.isdigit())}"
    if kname.startswith("sd"):
        index = ord(kname[2]) - ord("a")
        number = ''.join(c for c in kname[3:] if c.isdigit())
        return f"8:{index * 16 + (int(number) if number else 0)}"
    return "7:0"


def render(device, parent, top, counters):
    out = {}
    if device["type"] == "part":
        kname = f"{parent['kname']}{'p' if parent['kname'][-1].isdigit() else ''}{device['partn']}"
    else:
        kname = device.get("kname") or device["name"]
    values = dict(device)
    values.update(kname=kname, name=values.get("name") or kname, pkname=parent["kname"] if parent else None,
                  **{"maj:min": majmin(kname, counters)})
    values["path"] = f"/dev/mapper/{values['name']}" if device["type"] in ("lvm", "crypt", "mpath") else f"/dev/{kname}"
    if device["type"] == "part":
        values.update(pttype=top["pttype"], ptuuid=top["ptuuid"])
    for key in ("rm", "ro", "hotplug"):
        values.setdefault(key, top.get(key, False) if key != "ro" else False)
    values.setdefault("rota", top.get("rota", False))
    mounts = values.get("mountpoints") or []
    values["mountpoint"] = mounts[0] if mounts else None
    values["mountpoints"] = mounts or [None]
    for column in COLUMNS:
        out[column] = values.get(column)
    children = [render(c, dict(values, kname=kname), top, counters) for c in device.get("children", [])]
    if children:
        out["children"] = children
    return out


def udev_name(text):
    return text.strip().replace(" ", "_")


def by_id_links(devices, extra=(), drop=(), retarget=None):
    """The links udev makes for disks, partitions, dm, md and PVs: NAME -> KNAME."""
    links = {}

    def walk(d, top):
        kname = d["kname"]
        if d["type"] == "disk" and d["tran"] != "usb" or d["type"] == "part":
            disk_ = top
            suffix = f"-part{kname[len(top['kname']):].lstrip('p')}" if d["type"] == "part" else ""
            names = []
            if disk_["tran"] == "nvme":
                names.append(f"nvme-{udev_name(disk_['model'])}_{disk_['serial']}")
                if disk_["wwn"]:
                    names.append(f"nvme-{disk_['wwn']}")
            elif disk_["tran"] == "sas":
                names += [f"scsi-3{disk_['wwn'][2:]}", f"scsi-SSEAGATE_{disk_['model']}_{disk_['serial']}"]
            elif disk_["serial"]:
                names += [f"ata-{udev_name(disk_['model'])}_{disk_['serial']}", f"scsi-SATA_{udev_name(disk_['model'])}_{disk_['serial']}"]
            else:
                names.append("scsi-0QEMU_QEMU_HARDDISK_drive-scsi0")
            if disk_["wwn"] and not disk_["wwn"].startswith("eui."):
                names.append(f"wwn-{disk_['wwn']}")
            for n in names:
                links[n + suffix] = kname
        if d["type"] == "disk" and d["tran"] == "usb":
            links[f"usb-SanDisk_{udev_name(d['model'])}_{d['serial']}-0:0"] = kname
        if d["type"] in ("lvm", "crypt"):
            links[f"dm-name-{d['name']}"] = kname
        if d["type"].startswith("raid"):
            links["md-name-pve3:0"] = kname
            links[f"md-uuid-{MD_UUID}"] = kname
        if d.get("fstype") == "LVM2_member":
            links[f"lvm-pv-uuid-{d['uuid']}"] = kname
        for c in d.get("children", []):
            walk(c, top)

    for d in devices:
        walk(d, d)
    for name in drop:
        links.pop(name, None)
    for name, target in extra:
        links[name] = target
    if retarget:
        links.update(retarget)
    lines = ["total 0"]
    for name in sorted(links):
        target = "../../" + links[name]
        lines.append(f"lrwxrwxrwx 1 root root {len(target)} Nov 20 10:00 {name} -> {target}")
    return "\n".join(lines) + "\n"


def compact(document):
    """lsblk's JSON with one device per line (lsblk itself puts every key on a line of its own)."""
    def device(d, depth):
        pad = "   " * (depth + 2)
        flat = {k: v for k, v in d.items() if k != "children"}
        text = json.dumps(flat, ensure_ascii=False, separators=(", ", ": "))
        if "children" not in d:
            return pad + text
        inner = ",\n".join(device(c, depth + 2) for c in d["children"])
        return f"{pad}{text[:-1]}, \"children\": [\n{inner}\n{pad}]}}"
    body = ",\n".join(device(d, 0) for d in document["blockdevices"])
    return f'{{\n   "blockdevices": [\n{body}\n   ]\n}}'


def write(scenario, devices, **link_options):
    counters = {}
    rendered = [render(d, None, d, counters) for d in devices]
    path = os.path.join(HERE, scenario)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "lsblk.json"), "w") as f:
        f.write(compact({"blockdevices": rendered}) + "\n")
    with open(os.path.join(path, "disk-by-id.txt"), "w") as f:
        f.write(by_id_links(rendered, **link_options))


def find(devices, name):
    for d in devices:
        if d.get("name") == name or d.get("kname") == name:
            return d
        hit = find(d.get("children", []), name)
        if hit:
            return hit
    return None


def main():
    nvme = "nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T512345A"

    # The Proxmox node as planned, and in the installer.
    write("pve-node", pve())
    write("pve-installer", pve(mounted=False))
    # Benign: other kernel names, enumeration order and dm numbers.
    write("pve-renamed", [sata_tank("sdb"), nvme_boot("nvme1n1", lvs=pve_lvs(first_dm=3, mounted=False), mounted=False)])
    # Benign: unrelated disks appeared (a second NVMe, a blank SATA disk, the installer's USB stick).
    other_nvme = disk("nvme0n1", 512110190592, "WD Blue SN570 500GB", "22123K801234", "eui.e8238fa6bf530001", "nvme", None, [])
    write("pve-new-disks", [blank_sata("sda"), sata_tank("sdb"), usb_stick("sdc"), other_nvme,
                            nvme_boot("nvme1n1", lvs=pve_lvs(mounted=False), mounted=False)])
    # Benign: the logical volumes are not active, so the PV shows no children.
    write("pve-lvs-inactive", pve(mounted=False, lvs=[]))
    # Benign: a newer udev adds aliases (the namespace suffix, the NVMe vendor id form).
    write("pve-newer-udev", pve(mounted=False), extra=[
        (f"{nvme}_1", "nvme0n1"), (f"{nvme}_1-part3", "nvme0n1p3"),
        ("nvme-nvme.144d-53354758-53616d73756e67-00000001", "nvme0n1"), ("ata-Samsung_SSD_870_EVO_2TB_S6PNNJ0W123456B-part1", "sda1")])

    # Refusals.
    write("pve-missing-disk", [sata_tank()])
    write("pve-byid-to-partition", pve(mounted=False), retarget={nvme: "nvme0n1p3"})
    resized = pve(mounted=False)
    resized[1]["size"] = 960197124096
    write("pve-size-changed", resized)
    reserial = pve(mounted=False)
    reserial[1]["serial"] = "S5GXNF0T999999Z"
    write("pve-serial-changed", reserial, extra=[(nvme, "nvme0n1")], drop=["nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0T999999Z"])
    clone = nvme_boot("nvme1n1", lvs=[], mounted=False)
    clone.update(wwn=None, ptuuid=None, pttype=None, children=[])
    write("pve-duplicate-serial", pve(mounted=False) + [clone], extra=[(nvme, "nvme0n1")])
    retabled = pve(mounted=False)
    retabled[1]["ptuuid"] = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    for p in retabled[1]["children"]:
        p["partuuid"] = p["partuuid"].replace("6b1c", "9f0e")
    write("pve-ptuuid-changed", retabled)
    repartitioned = pve(mounted=False)
    p3 = repartitioned[1]["children"][2]
    p3["size"] = 499565034496
    repartitioned[1]["children"].append(part(4, 2099200 + 499565034496 // 512, 499565034496, LINUX_LVM,
                                             "6b1c4e2f-0a3b-4c5d-8e9f-000000000004"))
    write("pve-partition-changed", repartitioned)
    write("pve-swap-in-use", pve(mounted=False, lvs=pve_lvs(mounted=False, swap=True)))
    write("pve-mounted-deep", pve(mounted=False, lvs=pve_lvs(mounted=False, ct_mount=["/mnt/ct100"])))
    # VG pve extended onto a new disk: the data pool's data LV spans both PVs, so lsblk shows it under each.
    extended = pve(mounted=False)
    new_pv = part(1, 2048, 1000202788864, LINUX_LVM, "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "LVM2_member",
                  "Ab1cDe-2fGh-3iJk-4lMn-5oPq-6rSt-7uVwXy", fsver="LVM2 001",
                  children=[copy.deepcopy(find(extended, "pve-data_tdata"))])
    grown = blank_sata("sdb", serial="2304E6A1B2C3", wwn="0x500a0751e6a1b2c3")
    grown.update(model="CT1000MX500SSD1", rota=False, ptuuid="8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a", pttype="gpt", children=[new_pv])
    write("pve-vg-extended", extended + [grown])
    inactive = pve(mounted=False, lvs=[])
    grown_inactive = copy.deepcopy(grown)
    grown_inactive["children"][0]["children"] = []
    write("pve-vg-extended-inactive", inactive + [grown_inactive])

    # Proxmox ZFS RAID1 (both disks planned).
    write("zfs-mirror-node", zfs_mirror())
    write("zfs-mirror-installer", zfs_mirror())
    write("zfs-mirror-swapped", zfs_mirror("sdb", "sda")[::-1])
    third = sas_rpool("sdc", "ZC1ABCDG", "0x5000c500a1b2c3f6")
    write("zfs-mirror-member-outside", zfs_mirror() + [third])
    twins = [sas_rpool("sdc", *SAS_A), sas_rpool("sdd", *SAS_B)]
    write("zfs-mirror-dual-path", zfs_mirror() + twins)
    multipath = zfs_mirror()
    for i, d in enumerate(multipath):
        d["children"].append(dm(f"mpath{'ab'[i]}", f"dm-{i}", d["size"], type="mpath"))
    write("zfs-mirror-multipath", multipath)

    # md RAID1 → LUKS → LVM (both disks planned).
    write("md-node", md_node())
    write("md-installer", md_node(mounted=False, md="md127", crypt=("luks-2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "dm-3")))
    write("md-not-assembled", md_node(mounted=False, assembled=False))
    write("md-mounted-deep", md_node(mounted=False, md="md127", root_mount="/mnt"))
    look_alike = md_disk("sdc", MD_A, False, None, array_uuid="7f8a9b0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c", tag="c")
    write("md-duplicate-serial", md_node(mounted=False) + [look_alike], extra=[("ata-KINGSTON_SA400S37480G_50026B7784A1B2C3", "sda")])
    grown_md = md_node(mounted=False)
    grown_md.append(md_disk("sdc", "50026B7784A1B2C5", False, copy.deepcopy(grown_md[0]["children"][1]["children"][0])))
    write("md-member-outside", grown_md)

    # A QEMU disk without serial or WWN.
    write("no-serial-node", [qemu_disk()])
    write("no-serial-installer", [qemu_disk(mounted=False)])


if __name__ == "__main__":
    main()
