// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pve2nix",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pve2nix", targets: ["pve2nix"]),
        .executable(name: "pve2nix-simulator", targets: ["pve2nix-simulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Already built for NIOSSL's certificate handling; used for SHA-256 certificate pins.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Spawns ssh, ssh-keyscan and other tools in their own process group, with streamed output.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // Pure values and logic: model, parsers, planners. No I/O.
        .target(name: "PVE2NixCore"),
        // Human-readable renderings of plans and sites (JSON comes from Codable).
        .target(name: "PVE2NixViews", dependencies: ["PVE2NixCore", "PVE2NixRuntime"]),
        // The effect seams (Proxmox API, journal, clock) and the executor that drives a plan through them.
        .target(name: "PVE2NixRuntime", dependencies: ["PVE2NixCore"]),
        // Live implementations of the effect seams: file system, HTTPS, SQLite, processes, OpenSSH.
        .target(
            name: "PVE2NixAdapters",
            dependencies: [
                "PVE2NixCore", "PVE2NixRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // Fakes and fixture loaders shared by tests.
        .target(
            name: "PVE2NixTesting",
            dependencies: [
                "PVE2NixCore", "PVE2NixAdapters", "PVE2NixRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "pve2nix",
            dependencies: [
                "PVE2NixCore", "PVE2NixAdapters", "PVE2NixViews",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The Proxmox VE simulator for tests and demos.
        .executableTarget(
            name: "pve2nix-simulator",
            dependencies: ["PVE2NixCore", "PVE2NixAdapters", "PVE2NixTesting", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Benchmarks: whole-operation timings against their targets, printed as ratios.
        .executableTarget(name: "pve2nix-bench", dependencies: ["PVE2NixCore", "PVE2NixAdapters", "PVE2NixRuntime", "PVE2NixTesting"]),
        .testTarget(
            name: "PVE2NixCoreTests",
            dependencies: ["PVE2NixCore", "PVE2NixAdapters", "PVE2NixViews", "PVE2NixRuntime", "PVE2NixTesting"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
