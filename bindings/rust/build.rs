// Link libdsv3: from DSV3_LIB_DIR (a CMake build directory or an install's
// lib directory) when set, else from the linker's default paths (an
// installed libdsv3.so). DSV3_STATIC=1 links libdsv3.a instead.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=DSV3_LIB_DIR");
    println!("cargo:rerun-if-env-changed=DSV3_STATIC");
    let static_link = env::var("DSV3_STATIC").map(|v| v == "1").unwrap_or(false);
    if let Ok(dir) = env::var("DSV3_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
        if !static_link {
            // so tests and examples run from the build tree without LD_LIBRARY_PATH
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
        }
    }
    if static_link {
        println!("cargo:rustc-link-lib=static=dsv3");
        println!("cargo:rustc-link-lib=dylib=pthread");
        println!("cargo:rustc-link-lib=dylib=m");
    } else {
        println!("cargo:rustc-link-lib=dylib=dsv3");
    }
}
