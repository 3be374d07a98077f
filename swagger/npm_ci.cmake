# cmake -DNPM=<npm> -DDIR=<dir with package.json and package-lock.json> -P npm_ci.cmake
# Installs exactly what the lock file pins. --ignore-scripts: no install-time
# scripts run (swagger-ui-dist's telemetry dependency has one).
execute_process(
  COMMAND ${NPM} ci --prefix ${DIR} --ignore-scripts --no-audit --no-fund --loglevel=error
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "`npm ci` in ${DIR} failed (${result}): the npm registry must be reachable "
                      "at build time to install the packages pinned in its package-lock.json")
endif()
