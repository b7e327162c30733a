/* log.h — one line per event on stderr:
 *   2026-11-22T18:47:35.123Z INFO  worker: job done job=01J.. queue=message ms=3
 * Level, component, message, then key=value fields. Never log a token or a
 * whole payload. */
#ifndef SL_LOG_H
#define SL_LOG_H

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* Sets the component name printed on every line ("worker") and the lowest
 * level printed. Call once at start-up. */
void sl_log_init(const char *component, enum sl_log_level min_level);

/* Parses "debug|info|warn|error"; returns -1 for anything else. */
int sl_log_level_parse(const char *s);

int sl_log_enabled(enum sl_log_level level);

void sl_log(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl_debug(...)                                                                              \
    do {                                                                                           \
        if (sl_log_enabled(SL_LOG_DEBUG))                                                          \
            sl_log(SL_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define sl_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
