# Bundled modules are signed at build time (docs/modules.md#signing): a dev key
# pair is made once per build tree (never committed), its public half is
# trusted through build/modules/trusted-keys/, and each module gets a manifest
# with sha256, cosign-format signature and a CycloneDX SBOM listing its crates.
set(AION_SIGNING_DIR ${CMAKE_BINARY_DIR}/module-signing)
set(AION_DEV_KEY ${AION_SIGNING_DIR}/dev.key)
set(AION_DEV_PUB ${AION_MODULES_OUT}/trusted-keys/dev.pub)
# $<TARGET_FILE:aiond> orders the build after aiond without re-running when
# aiond changes: the key is made only when missing.
add_custom_command(
  OUTPUT ${AION_DEV_KEY} ${AION_DEV_PUB}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${AION_SIGNING_DIR} ${AION_MODULES_OUT}/trusted-keys
  COMMAND $<TARGET_FILE:aiond> module keygen ${AION_SIGNING_DIR}/dev --force
  COMMAND ${CMAKE_COMMAND} -E copy ${AION_SIGNING_DIR}/dev.pub ${AION_DEV_PUB}
  COMMENT "Generating the build's module signing key (dev only)"
  VERBATIM)

# aion_sign_module(<crate dir> <template> <artifact name> <out name>)
function(aion_sign_module crate template artifact out_name)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/${crate})
  set(meta ${AION_SIGNING_DIR}/${out_name}.cargo-metadata.json)
  set(out ${AION_MODULES_OUT}/${out_name}.module.json)
  add_custom_command(
    OUTPUT ${out} ${AION_MODULES_OUT}/${out_name}.cdx.json
    COMMAND ${CMAKE_COMMAND} -E make_directory ${AION_SIGNING_DIR}
    COMMAND sh -c "RUSTC=${DEBIAN_RUSTC} ${DEBIAN_CARGO} metadata --format-version 1 --offline --quiet > ${meta}"
    COMMAND $<TARGET_FILE:aiond> module sign --key ${AION_DEV_KEY} --manifest ${dir}/${template}
            --artifact ${AION_MODULES_OUT}/${artifact} --cargo-metadata ${meta} --out ${out}
    WORKING_DIRECTORY ${dir}
    DEPENDS ${AION_MODULES_OUT}/${artifact} ${dir}/${template} ${AION_DEV_KEY} ${dir}/Cargo.toml
    COMMENT "Signing module ${out_name}"
    VERBATIM)
  add_custom_target(sign_${out_name} ALL DEPENDS ${out})
  add_dependencies(sign_${out_name} module_${out_name})
endfunction()
