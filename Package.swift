// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pve2nix",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pve2nix", targets: ["pve2nix"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure values and logic: model, parsers, planners. No I/O.
        .target(name: "PVE2NixCore"),
        // Human-readable renderings of plans and sites (JSON comes from Codable).
        .target(name: "PVE2NixViews", dependencies: ["PVE2NixCore"]),
        // The effect seams (Proxmox API, journal, clock) and the executor that drives a plan through them.
        .target(name: "PVE2NixRuntime", dependencies: ["PVE2NixCore"]),
        // Live implementations of the effect seams (file system today).
        .target(name: "PVE2NixAdapters", dependencies: ["PVE2NixCore"]),
        // Fakes and fixture loaders shared by tests.
        .target(name: "PVE2NixTesting", dependencies: ["PVE2NixCore", "PVE2NixAdapters", "PVE2NixRuntime"]),
        .executableTarget(
            name: "pve2nix",
            dependencies: [
                "PVE2NixCore", "PVE2NixAdapters", "PVE2NixViews",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks: whole-operation timings against their targets, printed as ratios.
        .executableTarget(name: "pve2nix-bench", dependencies: ["PVE2NixCore", "PVE2NixAdapters"]),
        .testTarget(
            name: "PVE2NixCoreTests",
            dependencies: ["PVE2NixCore", "PVE2NixAdapters", "PVE2NixViews", "PVE2NixRuntime", "PVE2NixTesting"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
