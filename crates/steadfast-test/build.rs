//! Generates the gRPC test service when the `grpc` feature is on, with a protoc that ships as
//! a crate, so a clean machine needs nothing installed.

fn main() {
    println!("cargo:rerun-if-changed=proto/echo.proto");
    #[cfg(feature = "grpc")]
    {
        let protoc = protoc_bin_vendored::protoc_bin_path().expect("a vendored protoc");
        let mut config = tonic_prost_build::Config::new();
        config.protoc_executable(protoc);
        tonic_prost_build::configure()
            .compile_with_config(config, &["proto/echo.proto"], &["proto"])
            .expect("compile proto/echo.proto");
    }
}
