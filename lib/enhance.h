/*
 * enhance.h - prompt-enhancement results (batch_results.json) and what a
 * completed enhance run does to its prompt record.
 */
#ifndef COSMOS_ENHANCE_H
#define COSMOS_ENHANCE_H

#include <cjson/cJSON.h>

/* The enhanced text for prompt_id in the results file (caller frees), or
 * NULL with *why saying what is wrong. */
char *enhance_result(const char *path, const char *prompt_id, const char **why);

/*
 * Apply text from a completed enhance run (call once, under the run's
 * lock): outputs.enhanced_prompt in patch; then the prompt's text replaced
 * (the old one kept in previous_texts), or with execution_config
 * create_new a new prompt record (parent_prompt_id, enhanced), printed,
 * and outputs.enhanced_prompt_id.
 */
void enhance_apply(const cJSON *run, const char *text, cJSON *patch);

#endif
